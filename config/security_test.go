package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// withSecurity is a valid configuration whose kafka section ends with extra,
// indented under kafka:.
func withSecurity(extra string) []byte {
	return []byte(`kafka:
  brokers: ["b-1.example:9096"]
` + extra + `
sources:
  - id: src_1
    topics: [t]
    region: us-west-2
    mapped_streams: [{event: "*", stream: s}]
`)
}

func secretFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSecurityValidationNamesTheKey(t *testing.T) {
	t.Parallel()
	pw := secretFile(t, "s3cret\n")
	missing := filepath.Join(t.TempDir(), "nope")
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown mechanism", "  sasl: {mechanism: GSSAPI}",
			[]string{`kafka.sasl.mechanism: must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM, or empty for none; got "GSSAPI"`}},
		{"mechanism in the wrong case gets a hint", "  sasl: {mechanism: scram-sha-512, username: u, password_file: " + pw + "}",
			[]string{`got "scram-sha-512" (did you mean SCRAM-SHA-512?)`}},
		{"SCRAM without username", "  sasl: {mechanism: SCRAM-SHA-512, password_file: " + pw + "}",
			[]string{"kafka.sasl.username: is required with SCRAM-SHA-512"}},
		{"SCRAM without password", "  sasl: {mechanism: SCRAM-SHA-256, username: u}",
			[]string{"kafka.sasl.password: SCRAM-SHA-256 needs a password: set one of kafka.sasl.password_env, kafka.sasl.password_file or kafka.sasl.password"}},
		{"password given two ways", "  sasl: {mechanism: PLAIN, username: u, password: x, password_env: KAFKA_PW}",
			[]string{"kafka.sasl: the password is given 2 ways (password, password_env); keep exactly one"}},
		{"password given three ways", "  sasl: {mechanism: PLAIN, username: u, password: x, password_env: KAFKA_PW, password_file: " + pw + "}",
			[]string{"given 3 ways (password, password_env, password_file)"}},
		{"password_file missing", "  sasl: {mechanism: SCRAM-SHA-512, username: u, password_file: " + missing + "}",
			[]string{"kafka.sasl.password_file: cannot read " + missing + ": no such file or directory"}},
		{"password_file is a directory", "  sasl: {mechanism: SCRAM-SHA-512, username: u, password_file: " + filepath.Dir(missing) + "}",
			[]string{"kafka.sasl.password_file: " + filepath.Dir(missing) + " is a directory"}},
		{"password_env is not a variable name", "  sasl: {mechanism: PLAIN, username: u, password_env: 'hunter2 pw!'}",
			[]string{"kafka.sasl.password_env: is not an environment variable name"}},
		{"region with SCRAM", "  sasl: {mechanism: SCRAM-SHA-512, username: u, password_env: P, region: us-east-1}",
			[]string{"kafka.sasl.region: is only used by AWS_MSK_IAM"}},
		{"MSK IAM without region", "  tls: {enabled: true}\n  sasl: {mechanism: AWS_MSK_IAM}",
			[]string{"kafka.sasl.region: is required with AWS_MSK_IAM"}},
		{"MSK IAM with a bad region", "  tls: {enabled: true}\n  sasl: {mechanism: AWS_MSK_IAM, region: mars}",
			[]string{`kafka.sasl.region: "mars" is not an AWS region name`}},
		{"MSK IAM without TLS", "  sasl: {mechanism: AWS_MSK_IAM, region: us-east-1}",
			[]string{"kafka.tls.enabled: must be true with AWS_MSK_IAM"}},
		{"MSK IAM with a username and password", "  tls: {enabled: true}\n  sasl: {mechanism: AWS_MSK_IAM, region: us-east-1, username: u, password_env: P}",
			[]string{"kafka.sasl.username: is not used by AWS_MSK_IAM", "kafka.sasl.password_env: is not used by AWS_MSK_IAM"}},
		{"SASL keys without a mechanism", "  sasl: {username: u, password_env: P}",
			[]string{"kafka.sasl.username: is only used with kafka.sasl.mechanism", "kafka.sasl.password_env: is only used with kafka.sasl.mechanism"}},
		{"TLS keys without enabled", "  tls: {ca_file: /x, insecure_skip_verify: true}",
			[]string{"kafka.tls.ca_file: is only used when kafka.tls.enabled is true", "kafka.tls.insecure_skip_verify: is only used when kafka.tls.enabled is true"}},
		{"cert without key", "  tls: {enabled: true, cert_file: " + pw + "}",
			[]string{"kafka.tls.key_file: is required with kafka.tls.cert_file"}},
		{"key without cert", "  tls: {enabled: true, key_file: " + pw + "}",
			[]string{"kafka.tls.cert_file: is required with kafka.tls.key_file"}},
		{"CA file missing", "  tls: {enabled: true, ca_file: " + missing + "}",
			[]string{"kafka.tls.ca_file: cannot read " + missing + ": no such file or directory"}},
		{"insecure with a CA file", "  tls: {enabled: true, ca_file: " + pw + ", insecure_skip_verify: true}",
			[]string{"kafka.tls.insecure_skip_verify: contradicts kafka.tls.ca_file"}},
		{"misspelt key", "  sasl: {mechanism: PLAIN, user: u, password_env: P}",
			[]string{"kafka.sasl.user: unknown key", "kafka.sasl.username: is required with PLAIN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(withSecurity(tt.yaml))
			if err == nil {
				t.Fatal("Parse succeeded, want errors")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%s", w, err)
				}
			}
			for _, secret := range []string{"hunter2", "s3cret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows a secret:\n%s", err)
				}
			}
		})
	}
}

func TestSecurityValidConfigurations(t *testing.T) {
	t.Parallel()
	pw := secretFile(t, "s3cret\n")
	for name, y := range map[string]string{
		"none":                    "",
		"TLS with system roots":   "  tls: {enabled: true}",
		"TLS with CA and mTLS":    "  tls: {enabled: true, ca_file: " + pw + ", cert_file: " + pw + ", key_file: " + pw + ", server_name: kafka.internal}",
		"SCRAM-SHA-512 from file": "  tls: {enabled: true}\n  sasl: {mechanism: SCRAM-SHA-512, username: u, password_file: " + pw + "}",
		"SCRAM-SHA-256 from env":  "  sasl: {mechanism: SCRAM-SHA-256, username: u, password_env: KAFKA_PASSWORD}",
		"PLAIN inline":            "  tls: {enabled: true}\n  sasl: {mechanism: PLAIN, username: key, password: s3cret}",
		"MSK IAM":                 "  tls: {enabled: true}\n  sasl: {mechanism: AWS_MSK_IAM, region: eu-west-1}",
	} {
		if _, err := Parse(withSecurity(y)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSecurityWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		k    Kafka
		want []string
	}{
		{"verified TLS and SCRAM from a file", Kafka{TLS: TLS{Enabled: true}, SASL: SASL{Mechanism: SASLScramSHA512, Username: "u", PasswordFile: "/f"}}, nil},
		{"insecure_skip_verify", Kafka{TLS: TLS{Enabled: true, InsecureSkipVerify: true}},
			[]string{"kafka.tls.insecure_skip_verify is true: broker certificates are NOT verified"}},
		{"PLAIN in clear text", Kafka{SASL: SASL{Mechanism: SASLPlain, Username: "u", PasswordEnv: "P"}},
			[]string{"PLAIN without kafka.tls.enabled: the password crosses the network in clear text"}},
		{"password in the file", Kafka{TLS: TLS{Enabled: true}, SASL: SASL{Mechanism: SASLScramSHA256, Username: "u", Password: "hunter2"}},
			[]string{"kafka.sasl.password is written in the config file"}},
	}
	for _, tt := range tests {
		got := tt.k.SecurityWarnings()
		if len(got) != len(tt.want) {
			t.Errorf("%s: warnings %q, want %d", tt.name, got, len(tt.want))
			continue
		}
		for i, w := range tt.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: warning %q lacks %q", tt.name, got[i], w)
			}
			if strings.Contains(got[i], "hunter2") {
				t.Errorf("%s: warning shows the password: %q", tt.name, got[i])
			}
		}
	}
}

// TestSecurityNeverPrintsThePassword formats a configuration holding a
// password every way the worker or a user might dump it.
func TestSecurityNeverPrintsThePassword(t *testing.T) {
	t.Parallel()
	const pw = "hunter2-kafka-pw"
	cfg, err := Parse(withSecurity("  tls: {enabled: true}\n  sasl: {mechanism: SCRAM-SHA-512, username: alice, password: " + pw + "}"))
	if err != nil {
		t.Fatal(err)
	}
	if string(cfg.Kafka.SASL.Password) != pw {
		t.Fatalf("password = %q, want it decoded as written", string(cfg.Kafka.SASL.Password))
	}
	var jsonLog, textLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonLog, &slog.HandlerOptions{Level: slog.LevelDebug})).Debug("cfg", "config", cfg, "kafka", cfg.Kafka, "sasl", cfg.Kafka.SASL)
	slog.New(slog.NewTextHandler(&textLog, &slog.HandlerOptions{Level: slog.LevelDebug})).Debug("cfg", "config", cfg, "kafka", cfg.Kafka, "sasl", cfg.Kafka.SASL)
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ys, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outs := map[string]string{
		"%v":        fmt.Sprintf("%v", *cfg),
		"%+v":       fmt.Sprintf("%+v", *cfg),
		"%#v":       fmt.Sprintf("%#v", *cfg),
		"%s sasl":   fmt.Sprintf("%s", cfg.Kafka.SASL),
		"%x sasl":   fmt.Sprintf("%x", cfg.Kafka.SASL),
		"Summary":   cfg.Summary(),
		"slog JSON": jsonLog.String(),
		"slog text": textLog.String(),
		"JSON":      string(js),
		"YAML":      string(ys),
		"warnings":  strings.Join(cfg.Kafka.SecurityWarnings(), "\n"),
	}
	for how, out := range outs {
		if strings.Contains(out, pw) || strings.Contains(out, fmt.Sprintf("%x", pw)) {
			t.Errorf("%s shows the password:\n%s", how, out)
		}
	}
	// The mask is there, so the dump still says a password is set.
	for _, how := range []string{"%+v", "slog JSON", "YAML"} {
		if !strings.Contains(outs[how], mask) {
			t.Errorf("%s lacks the mask %q:\n%s", how, mask, outs[how])
		}
	}
	if !strings.Contains(outs["Summary"], "sasl=SCRAM-SHA-512(user=alice, password from config ******)") ||
		!strings.Contains(outs["Summary"], "tls=on(system roots)") {
		t.Errorf("summary does not describe the security settings:\n%s", outs["Summary"])
	}
}

func TestSummaryShowsWhereThePasswordComesFrom(t *testing.T) {
	t.Parallel()
	tests := []struct {
		k    Kafka
		want string
	}{
		{Kafka{}, " tls=off sasl=off"},
		{Kafka{TLS: TLS{Enabled: true, CAFile: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem", ServerName: "kafka"},
			SASL: SASL{Mechanism: SASLScramSHA512, Username: "u", PasswordFile: "/run/secrets/pw"}},
			" tls=on(ca=/ca.pem) client_cert=/c.pem server_name=kafka sasl=SCRAM-SHA-512(user=u, password from file /run/secrets/pw)"},
		{Kafka{TLS: TLS{Enabled: true, InsecureSkipVerify: true}, SASL: SASL{Mechanism: SASLPlain, Username: "u", PasswordEnv: "KAFKA_PW"}},
			" tls=on(INSECURE: certificates not verified) sasl=PLAIN(user=u, password from env KAFKA_PW)"},
		{Kafka{TLS: TLS{Enabled: true}, SASL: SASL{Mechanism: SASLAWSMSKIAM, Region: "us-east-1"}},
			" tls=on(system roots) sasl=AWS_MSK_IAM(region=us-east-1, AWS default credentials)"},
	}
	for _, tt := range tests {
		if got := tt.k.securitySummary(); got != tt.want {
			t.Errorf("securitySummary() =\n%q\nwant\n%q", got, tt.want)
		}
	}
}
