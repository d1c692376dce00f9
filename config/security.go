package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// SASL mechanisms accepted in kafka.sasl.mechanism, spelt as Kafka spells
// them in sasl.enabled.mechanisms.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
	// SASLAWSMSKIAM signs each connection with the AWS credentials of the
	// SDK's default chain; Amazon MSK checks them against IAM policies.
	SASLAWSMSKIAM = "AWS_MSK_IAM"
)

// TLS secures the connections to the brokers, for the consumer and the
// dead-letter producer alike. Every other key needs Enabled.
type TLS struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the CAs that sign the brokers' certificates.
	// When set, only these CAs are trusted; when empty, the system roots are.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its unencrypted
	// key, for brokers that authenticate clients by certificate (mTLS). They
	// come as a pair.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the brokers' certificates must carry; empty uses
	// the host of each broker address, which is right unless the brokers are
	// reached through a tunnel or an IP address their certificates lack.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any certificate. It exists for a first
	// connection test only: with it, anyone on the network path can pose as
	// a broker and read the messages and the SASL credentials. The worker
	// logs a warning at every start while it is on.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASL authenticates the worker to the brokers. Mechanism empty turns it off.
//
// PLAIN and SCRAM need Username and exactly one password source: Password
// (in this file), PasswordEnv (the name of an environment variable) or
// PasswordFile (a file holding only the password, such as a mounted
// Kubernetes secret). AWS_MSK_IAM needs Region and takes its credentials from
// the AWS SDK's default chain (environment, shared files, web identity, ECS or
// EC2 role), never from this file.
type SASL struct {
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	Password  Secret `yaml:"password"`
	// PasswordEnv names the environment variable that holds the password.
	PasswordEnv string `yaml:"password_env"`
	// PasswordFile is read at start; one trailing line break is not part of
	// the password.
	PasswordFile string `yaml:"password_file"`
	// Region is the AWS region of the MSK cluster (AWS_MSK_IAM only).
	Region string `yaml:"region"`
}

// PasswordSources lists the keys that give a password, in the order they are
// documented; a valid configuration sets at most one.
func (s SASL) PasswordSources() []string {
	var out []string
	if s.Password != "" {
		out = append(out, "password")
	}
	if s.PasswordEnv != "" {
		out = append(out, "password_env")
	}
	if s.PasswordFile != "" {
		out = append(out, "password_file")
	}
	return out
}

// SecurityWarnings lists settings that work but expose the connection or its
// credentials; the worker logs each at start. They are not errors, because
// each has a legitimate use on a test cluster.
func (k Kafka) SecurityWarnings() []string {
	var out []string
	if k.TLS.Enabled && k.TLS.InsecureSkipVerify {
		out = append(out, "kafka.tls.insecure_skip_verify is true: broker certificates are NOT verified, so anyone "+
			"on the network path can pose as a broker and read every message and the SASL credentials; "+
			"set kafka.tls.ca_file to the CA that signs the brokers' certificates instead")
	}
	if k.SASL.Mechanism == SASLPlain && !k.TLS.Enabled {
		out = append(out, "kafka.sasl.mechanism is PLAIN without kafka.tls.enabled: the password crosses the network "+
			"in clear text; enable TLS or use SCRAM")
	}
	if k.SASL.Password != "" {
		out = append(out, "kafka.sasl.password is written in the config file; prefer kafka.sasl.password_env or "+
			"kafka.sasl.password_file so the secret is not stored and copied with the configuration")
	}
	return out
}

// securitySummary describes TLS and SASL for Summary without any secret:
// where the password comes from is shown, never the password.
func (k Kafka) securitySummary() string {
	var b strings.Builder
	t := k.TLS
	switch {
	case !t.Enabled:
		b.WriteString(" tls=off")
	case t.InsecureSkipVerify:
		b.WriteString(" tls=on(INSECURE: certificates not verified)")
	case t.CAFile != "":
		fmt.Fprintf(&b, " tls=on(ca=%s)", t.CAFile)
	default:
		b.WriteString(" tls=on(system roots)")
	}
	if t.Enabled && t.CertFile != "" {
		fmt.Fprintf(&b, " client_cert=%s", t.CertFile)
	}
	if t.Enabled && t.ServerName != "" {
		fmt.Fprintf(&b, " server_name=%s", t.ServerName)
	}
	s := k.SASL
	switch s.Mechanism {
	case "":
		b.WriteString(" sasl=off")
	case SASLAWSMSKIAM:
		fmt.Fprintf(&b, " sasl=%s(region=%s, AWS default credentials)", s.Mechanism, s.Region)
	default:
		from := "none"
		switch {
		case s.PasswordEnv != "":
			from = "env " + s.PasswordEnv
		case s.PasswordFile != "":
			from = "file " + s.PasswordFile
		case s.Password != "":
			from = "config " + s.Password.String()
		}
		fmt.Fprintf(&b, " sasl=%s(user=%s, password from %s)", s.Mechanism, s.Username, from)
	}
	return b.String()
}

// envNameRE is what a POSIX shell accepts as a variable name. Checking it
// catches the password itself pasted into password_env, and the error then
// must not echo the value.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// kafkaSecurity validates kafka.tls and kafka.sasl. Files are checked for
// readability here so that `check` reports a wrong path; environment
// variables are not, because `check` often runs where the secrets are not.
func (v *validator) kafkaSecurity(k *Kafka) {
	t := k.TLS
	if !t.Enabled {
		for _, f := range []struct {
			key string
			set bool
		}{
			{"ca_file", t.CAFile != ""}, {"cert_file", t.CertFile != ""}, {"key_file", t.KeyFile != ""},
			{"server_name", t.ServerName != ""}, {"insecure_skip_verify", t.InsecureSkipVerify},
		} {
			if f.set {
				v.add("kafka.tls."+f.key, "is only used when kafka.tls.enabled is true")
			}
		}
	} else {
		if t.CertFile != "" && t.KeyFile == "" {
			v.add("kafka.tls.key_file", "is required with kafka.tls.cert_file (the client certificate's private key)")
		}
		if t.KeyFile != "" && t.CertFile == "" {
			v.add("kafka.tls.cert_file", "is required with kafka.tls.key_file (the client certificate)")
		}
		if t.InsecureSkipVerify && t.CAFile != "" {
			v.add("kafka.tls.insecure_skip_verify", "contradicts kafka.tls.ca_file: certificates are either verified against it or not at all")
		}
		v.readable("kafka.tls.ca_file", t.CAFile)
		v.readable("kafka.tls.cert_file", t.CertFile)
		v.readable("kafka.tls.key_file", t.KeyFile)
	}

	s := k.SASL
	sources := s.PasswordSources()
	switch s.Mechanism {
	case "":
		unused := sources
		if s.Username != "" {
			unused = append([]string{"username"}, unused...)
		}
		if s.Region != "" {
			unused = append(unused, "region")
		}
		for _, key := range unused {
			v.add("kafka.sasl."+key, "is only used with kafka.sasl.mechanism, which is empty (SASL off)")
		}
		return
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if s.Username == "" {
			v.add("kafka.sasl.username", "is required with %s", s.Mechanism)
		}
		switch len(sources) {
		case 0:
			v.add("kafka.sasl.password", "%s needs a password: set one of kafka.sasl.password_env, kafka.sasl.password_file or kafka.sasl.password", s.Mechanism)
		case 1:
		default:
			v.add("kafka.sasl", "the password is given %d ways (%s); keep exactly one", len(sources), strings.Join(sources, ", "))
		}
		if s.Region != "" {
			v.add("kafka.sasl.region", "is only used by %s", SASLAWSMSKIAM)
		}
	case SASLAWSMSKIAM:
		if s.Region == "" {
			v.add("kafka.sasl.region", "is required with %s (the region of the MSK cluster, such as us-east-1)", SASLAWSMSKIAM)
		} else if !regionRE.MatchString(s.Region) {
			v.add("kafka.sasl.region", "%q is not an AWS region name such as us-east-1", s.Region)
		}
		if s.Username != "" {
			v.add("kafka.sasl.username", "is not used by %s: it signs with the AWS SDK's default credentials", SASLAWSMSKIAM)
		}
		for _, src := range sources {
			v.add("kafka.sasl."+src, "is not used by %s: it signs with the AWS SDK's default credentials", SASLAWSMSKIAM)
		}
		if !k.TLS.Enabled {
			v.add("kafka.tls.enabled", "must be true with %s: MSK accepts IAM authentication only over TLS (port 9098)", SASLAWSMSKIAM)
		}
		return
	default:
		hint := ""
		for _, m := range []string{SASLPlain, SASLScramSHA256, SASLScramSHA512, SASLAWSMSKIAM} {
			if strings.EqualFold(strings.ReplaceAll(s.Mechanism, "_", "-"), strings.ReplaceAll(m, "_", "-")) {
				hint = fmt.Sprintf(" (did you mean %s?)", m)
			}
		}
		v.add("kafka.sasl.mechanism", "must be %s, %s, %s or %s, or empty for none; got %q%s",
			SASLPlain, SASLScramSHA256, SASLScramSHA512, SASLAWSMSKIAM, s.Mechanism, hint)
		return
	}
	if s.PasswordEnv != "" && !envNameRE.MatchString(s.PasswordEnv) {
		// The value is not echoed: it may be the password itself.
		v.add("kafka.sasl.password_env", "is not an environment variable name (letters, digits and _): it names the variable that holds the password, not the password")
	}
	v.readable("kafka.sasl.password_file", s.PasswordFile)
}

// readable reports a file that cannot be opened. Only the path and the
// reason are printed, never the content.
func (v *validator) readable(key, path string) {
	if path == "" {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		v.add(key, "cannot read %s: %s", path, pathErrText(err))
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		v.add(key, "%s is a directory, want a file", path)
	}
}

// pathErrText is the reason of a *PathError without its repeated path.
func pathErrText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
