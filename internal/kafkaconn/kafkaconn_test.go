package kafkaconn

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/firehose-worker/firehose-worker/config"
)

// pki is a test-only CA and a certificate it signed for 127.0.0.1 and
// localhost, as PEM files.
type pki struct {
	dir                       string
	caFile, certFile, keyFile string
	ca                        *x509.Certificate
	leaf                      tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kafkaconn test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p.caFile = writePEM(t, p.dir, "ca.pem", "CERTIFICATE", caDER)
	p.certFile = writePEM(t, p.dir, "cert.pem", "CERTIFICATE", der)
	p.keyFile = writePEM(t, p.dir, "key.pem", "PRIVATE KEY", keyDER)
	p.leaf, err = tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBuildWithoutSecurityIsPlainTCP(t *testing.T) {
	t.Parallel()
	c, err := Build(context.Background(), config.Kafka{ClientID: "fhw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Dialer.TLS != nil || c.Transport.TLS != nil {
		t.Error("TLS is set without kafka.tls.enabled")
	}
	// A typed nil in the interface would make kafka-go try SASL.
	if c.Dialer.SASLMechanism != nil || c.Transport.SASL != nil {
		t.Error("SASL mechanism is set without kafka.sasl.mechanism")
	}
	if c.Dialer.ClientID != "fhw" || c.Transport.ClientID != "fhw" {
		t.Errorf("client ids %q, %q; want kafka.client_id", c.Dialer.ClientID, c.Transport.ClientID)
	}
}

func TestBuildTLS(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	c, err := Build(context.Background(), config.Kafka{TLS: config.TLS{
		Enabled: true, CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile, ServerName: "kafka.internal",
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc := c.Dialer.TLS
	if tc == nil || c.Transport.TLS != tc {
		t.Fatal("dialer and transport must share the TLS configuration")
	}
	if tc.ServerName != "kafka.internal" || tc.InsecureSkipVerify || tc.MinVersion != tls.VersionTLS12 {
		t.Errorf("server name %q, insecure %v, min version %x", tc.ServerName, tc.InsecureSkipVerify, tc.MinVersion)
	}
	if len(tc.Certificates) != 1 || !bytes.Equal(tc.Certificates[0].Certificate[0], p.leaf.Certificate[0]) {
		t.Error("the client certificate is not the one in cert_file")
	}
	// Only the CA file is trusted: the leaf verifies against RootCAs, and a
	// certificate from the system roots' world would not.
	leaf, _ := x509.ParseCertificate(p.leaf.Certificate[0])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: tc.RootCAs, DNSName: "localhost"}); err != nil {
		t.Errorf("leaf does not verify against the CA file's pool: %v", err)
	}
	if !tc.RootCAs.Equal(poolOf(p.ca)) {
		t.Error("RootCAs holds more than the CA file")
	}

	sys, err := Build(context.Background(), config.Kafka{TLS: config.TLS{Enabled: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sys.Dialer.TLS.RootCAs != nil || sys.Dialer.TLS.ServerName != "" {
		t.Error("without ca_file the system roots (nil RootCAs) and each broker's host (empty ServerName) must be used")
	}
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func TestBuildInsecureSkipVerifyWarnsLoudly(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	c, err := Build(context.Background(), config.Kafka{TLS: config.TLS{Enabled: true, InsecureSkipVerify: true}}, log)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Dialer.TLS.InsecureSkipVerify {
		t.Error("insecure_skip_verify was not applied")
	}
	var line struct{ Level, Msg string }
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("want one JSON log line, got %q: %v", logs.String(), err)
	}
	if line.Level != "WARN" || !strings.Contains(line.Msg, "SECURITY WARNING") || !strings.Contains(line.Msg, "NOT verified") || !strings.Contains(line.Msg, "kafka.tls.insecure_skip_verify") {
		t.Errorf("warning = %+v", line)
	}

	logs.Reset()
	if _, err := Build(context.Background(), config.Kafka{TLS: config.TLS{Enabled: true}}, log); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("verified TLS logged %q", logs.String())
	}
}

func TestBuildErrorsNameTheKey(t *testing.T) {
	p := newPKI(t)
	other := newPKI(t)
	missing := filepath.Join(t.TempDir(), "nope")
	t.Setenv("FHW_TEST_EMPTY_PW", "")
	notPEM, emptyPW := writeFile(t, "not a certificate"), writeFile(t, "\n")
	tests := []struct {
		name string
		k    config.Kafka
		want string
	}{
		{"CA file without PEM", config.Kafka{TLS: config.TLS{Enabled: true, CAFile: notPEM}},
			"kafka.tls.ca_file: " + notPEM + " holds no PEM certificate"},
		{"CA file missing", config.Kafka{TLS: config.TLS{Enabled: true, CAFile: missing}},
			"kafka.tls.ca_file: reading " + missing + ": open " + missing + ": no such file or directory"},
		{"key of another certificate", config.Kafka{TLS: config.TLS{Enabled: true, CertFile: p.certFile, KeyFile: other.keyFile}},
			"kafka.tls.cert_file, kafka.tls.key_file: loading the client certificate " + p.certFile},
		{"password file missing", scramUser(config.SASL{PasswordFile: missing}),
			"kafka.sasl.password_file: reading " + missing + ": no such file or directory"},
		{"password file empty", scramUser(config.SASL{PasswordFile: emptyPW}),
			"kafka.sasl.password_file: " + emptyPW + " is empty"},
		{"password env unset", scramUser(config.SASL{PasswordEnv: "FHW_TEST_UNSET_PW"}),
			"kafka.sasl.password_env: environment variable FHW_TEST_UNSET_PW is not set or empty"},
		{"password env empty", scramUser(config.SASL{PasswordEnv: "FHW_TEST_EMPTY_PW"}),
			"kafka.sasl.password_env: environment variable FHW_TEST_EMPTY_PW is not set or empty"},
	}
	for _, tt := range tests {
		_, err := Build(context.Background(), tt.k, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func scramUser(s config.SASL) config.Kafka {
	s.Mechanism, s.Username = config.SASLScramSHA512, "alice"
	return config.Kafka{SASL: s}
}

func TestSASLMechanismsAndPasswordSources(t *testing.T) {
	t.Setenv("FHW_TEST_KAFKA_PW", "from-env")
	tests := []struct {
		name      string
		s         config.SASL
		mechanism string
		password  string // checked for PLAIN, whose mechanism exposes it
	}{
		{"PLAIN inline", config.SASL{Mechanism: "PLAIN", Username: "u", Password: "inline"}, "PLAIN", "inline"},
		{"PLAIN from env", config.SASL{Mechanism: "PLAIN", Username: "u", PasswordEnv: "FHW_TEST_KAFKA_PW"}, "PLAIN", "from-env"},
		// One line break goes; inner and trailing spaces are the password's.
		{"PLAIN from file", config.SASL{Mechanism: "PLAIN", Username: "u", PasswordFile: writeFile(t, "fr om file \r\n")}, "PLAIN", "fr om file "},
		{"SCRAM-SHA-256", config.SASL{Mechanism: "SCRAM-SHA-256", Username: "u", PasswordEnv: "FHW_TEST_KAFKA_PW"}, "SCRAM-SHA-256", ""},
		{"SCRAM-SHA-512", config.SASL{Mechanism: "SCRAM-SHA-512", Username: "u", PasswordEnv: "FHW_TEST_KAFKA_PW"}, "SCRAM-SHA-512", ""},
	}
	for _, tt := range tests {
		c, err := Build(context.Background(), config.Kafka{TLS: config.TLS{Enabled: true}, SASL: tt.s}, nil)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := c.Dialer.SASLMechanism.Name(); got != tt.mechanism {
			t.Errorf("%s: mechanism %q, want %q", tt.name, got, tt.mechanism)
		}
		if c.Transport.SASL != c.Dialer.SASLMechanism {
			t.Errorf("%s: the transport (dead letters) does not use the dialer's mechanism", tt.name)
		}
		if tt.password != "" {
			pm, ok := c.Dialer.SASLMechanism.(masked).Mechanism.(plain.Mechanism)
			if !ok || pm.Password != tt.password || pm.Username != "u" {
				t.Errorf("%s: PLAIN got user %q password %q, want u / %q", tt.name, pm.Username, pm.Password, tt.password)
			}
		}
	}
}

// TestMSKIAMSignsWithDefaultCredentials builds AWS_MSK_IAM from static
// credentials in the environment, the first link of the SDK's default
// chain, and checks the signed payload MSK would verify.
func TestMSKIAMSignsWithDefaultCredentials(t *testing.T) {
	const secretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", secretKey)
	t.Setenv("AWS_SESSION_TOKEN", "session-token-example")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "us-west-2") // kafka.sasl.region must win over it
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	c, err := Build(context.Background(), config.Kafka{
		TLS:  config.TLS{Enabled: true},
		SASL: config.SASL{Mechanism: config.SASLAWSMSKIAM, Region: "eu-west-1"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Dialer.SASLMechanism
	if m.Name() != "AWS_MSK_IAM" || c.Transport.SASL != m {
		t.Fatalf("mechanism %q on the dialer, %v on the transport", m.Name(), c.Transport.SASL)
	}
	if c.Username != "" {
		t.Errorf("username %q for MSK IAM", c.Username)
	}
	ctx := sasl.WithMetadata(context.Background(), &sasl.Metadata{Host: "b-1.msk.example.com", Port: 9098})
	_, ir, err := m.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var signed map[string]string
	if err := json.Unmarshal(ir, &signed); err != nil {
		t.Fatalf("initial response is not JSON: %v", err)
	}
	date := time.Now().UTC().Format("20060102")
	want := map[string]string{
		"version":              "2020_10_22",
		"host":                 "b-1.msk.example.com",
		"action":               "kafka-cluster:Connect",
		"x-amz-algorithm":      "AWS4-HMAC-SHA256",
		"x-amz-credential":     "AKIAIOSFODNN7EXAMPLE/" + date + "/eu-west-1/kafka-cluster/aws4_request",
		"x-amz-security-token": "session-token-example",
		"x-amz-signedheaders":  "host",
		"x-amz-expires":        "300",
	}
	for k, v := range want {
		if signed[k] != v {
			t.Errorf("%s = %q, want %q", k, signed[k], v)
		}
	}
	if sig := signed["x-amz-signature"]; len(sig) != 64 {
		t.Errorf("x-amz-signature = %q, want 64 hex digits", sig)
	}
	if strings.Contains(string(ir), secretKey) {
		t.Error("the secret key is in the payload; only its signature may be")
	}
	for _, out := range []string{fmt.Sprintf("%+v", *c.Dialer), fmt.Sprintf("%#v", c.Transport)} {
		if strings.Contains(out, secretKey) || strings.Contains(out, "session-token-example") {
			t.Errorf("formatting shows the AWS credentials: %s", out)
		}
	}
}

func TestMechanismNeverPrintsThePassword(t *testing.T) {
	t.Parallel()
	const pw = "hunter2-plain-pw"
	c, err := Build(context.Background(), config.Kafka{TLS: config.TLS{Enabled: true},
		SASL: config.SASL{Mechanism: "PLAIN", Username: "u", Password: pw}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(c.Dialer.SASLMechanism)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("dialer", "dialer", c.Dialer, "transport", c.Transport, "mechanism", c.Dialer.SASLMechanism)
	for how, out := range map[string]string{
		"%v dialer":    fmt.Sprintf("%v", *c.Dialer),
		"%+v dialer":   fmt.Sprintf("%+v", *c.Dialer),
		"%#v dialer":   fmt.Sprintf("%#v", *c.Dialer),
		"%+v conn":     fmt.Sprintf("%+v", *c),
		"%s mechanism": fmt.Sprintf("%s", c.Dialer.SASLMechanism),
		"JSON":         string(js),
		"slog text":    text.String(),
	} {
		if strings.Contains(out, pw) {
			t.Errorf("%s shows the password: %s", how, out)
		}
	}
	if got := fmt.Sprintf("%+v", c.Dialer.SASLMechanism); got != "sasl(PLAIN)" {
		t.Errorf("mechanism formats as %q, want sasl(PLAIN)", got)
	}
}

// cluster starts kfake with TLS from p and a SCRAM-SHA-512 user alice.
func cluster(t *testing.T, p *pki, password string) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{p.leaf}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(), kfake.Superuser(config.SASLScramSHA512, "alice", password))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func TestCheck(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	const password = "correct-horse-battery"
	broker := cluster(t, p, password)
	build := func(t *testing.T, caFile, pw string, sasl bool) *Conn {
		t.Helper()
		k := config.Kafka{TLS: config.TLS{Enabled: true, CAFile: caFile}}
		if sasl {
			k.SASL = config.SASL{Mechanism: config.SASLScramSHA512, Username: "alice", PasswordFile: writeFile(t, pw+"\n")}
		}
		c, err := Build(context.Background(), k, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	check := func(c *Conn, brokers ...string) (error, time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start := time.Now()
		err := Check(ctx, brokers, c)
		return err, time.Since(start)
	}

	t.Run("SCRAM-SHA-512 over TLS", func(t *testing.T) {
		t.Parallel()
		// The first broker is down: Check moves on to the next.
		if err, _ := check(build(t, p.caFile, password, true), closedAddr(t), broker); err != nil {
			t.Fatalf("Check: %v", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		err, took := check(build(t, p.caFile, "wrong-password", true), broker)
		var ce *CheckError
		if !errors.As(err, &ce) {
			t.Fatalf("Check = %v, want a *CheckError", err)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "kafka: SASL authentication failed: the broker rejected user \"alice\" with SCRAM-SHA-512") ||
			!strings.Contains(msg, broker) {
			t.Errorf("error does not name the problem: %s", msg)
		}
		if strings.Contains(msg, "wrong-password") || strings.Contains(msg, password) {
			t.Errorf("error shows a password: %s", msg)
		}
		if took > 10*time.Second {
			t.Errorf("took %s, want a fast failure", took)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		t.Parallel()
		err, _ := check(build(t, newPKI(t).caFile, password, true), broker)
		var ce *CheckError
		if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "kafka: TLS: the broker's certificate is signed by an unknown authority") {
			t.Fatalf("Check = %v, want a *CheckError naming the unknown authority", err)
		}
	})
	t.Run("no SASL on a SASL listener", func(t *testing.T) {
		t.Parallel()
		err, _ := check(build(t, p.caFile, "", false), broker)
		var ce *CheckError
		if err == nil || errors.As(err, &ce) {
			t.Fatalf("Check = %v, want an error that is retried (a broker closing connections may be restarting)", err)
		}
		if !strings.Contains(err.Error(), "if this listener uses SASL, set kafka.sasl") {
			t.Errorf("error lacks the SASL hint: %v", err)
		}
	})
	t.Run("certificate for another name", func(t *testing.T) {
		t.Parallel()
		c := build(t, p.caFile, password, true)
		c.Dialer.TLS.ServerName = "kafka.example.com" // as kafka.tls.server_name would
		err, _ := check(c, broker)
		var ce *CheckError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "kafka: TLS: the broker's certificate is not valid for the address dialed") ||
			!strings.Contains(err.Error(), "kafka.tls.server_name") {
			t.Fatalf("Check = %v, want a *CheckError naming the host name", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		err, _ := check(build(t, p.caFile, password, true), closedAddr(t))
		var ce *CheckError
		if err == nil || errors.As(err, &ce) {
			t.Fatalf("Check = %v, want a plain error that lets the consumer keep retrying", err)
		}
	})
}

// TestCheckMutualTLS runs Check against a broker that requires a client
// certificate signed by the test CA.
func TestCheckMutualTLS(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(&tls.Config{
		Certificates: []tls.Certificate{p.leaf}, MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: poolOf(p.ca),
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	broker := c.ListenAddrs()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	with, err := Build(ctx, config.Kafka{TLS: config.TLS{Enabled: true, CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(ctx, []string{broker}, with); err != nil {
		t.Errorf("with the client certificate: %v", err)
	}
	without, err := Build(ctx, config.Kafka{TLS: config.TLS{Enabled: true, CAFile: p.caFile}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = Check(ctx, []string{broker}, without)
	var ce *CheckError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "set kafka.tls.cert_file and kafka.tls.key_file") {
		t.Errorf("without a client certificate: Check = %v, want a *CheckError pointing at cert_file", err)
	}
}

// closedAddr is an address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
