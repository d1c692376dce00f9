//go:build e2e

package e2esec

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/firehose-worker/firehose-worker/internal/itest"
)

// user is the SCRAM user the tests create; its password is random per run.
const user = "fhw-e2e-sec"

var (
	repoRoot string
	binary   string
	// plainAddr is the PLAINTEXT listener, for setup and checks; saslAddr
	// the SASL_SSL listener the worker uses.
	plainAddr, saslAddr string
	// pki holds the CA the broker's certificate chains to (ca.pem) and an
	// unrelated CA (other-ca.pem).
	pki      string
	password string
	// brokerEnv is the environment scripts/kafka.sh runs with.
	brokerEnv []string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if repoRoot, err = filepath.Abs("../.."); err != nil {
		return fail("%v", err)
	}
	for _, tool := range []string{"openssl", "java", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fail("%s is needed for the SASL_SSL end-to-end test: %v", tool, err)
		}
	}
	port := 19192
	if v := os.Getenv("FHW_E2ESEC_KAFKA_PORT"); v != "" {
		if port, err = strconv.Atoi(v); err != nil {
			return fail("FHW_E2ESEC_KAFKA_PORT: %v", err)
		}
	}
	// kafka.sh puts the controller on port+1.
	plainAddr = fmt.Sprintf("127.0.0.1:%d", port)
	saslAddr = fmt.Sprintf("127.0.0.1:%d", port+2)

	tmp, err := os.MkdirTemp("", "fhw-e2esec")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(tmp)
	pki = filepath.Join(tmp, "pki")
	password = "pw-" + randomHex(12)
	keystorePass := randomHex(12)
	if err := makePKI(pki, keystorePass); err != nil {
		return fail("making the test PKI with openssl: %v", err)
	}

	props := filepath.Join(tmp, "sasl-ssl.properties")
	if err := os.WriteFile(props, []byte(brokerProperties(port, keystorePass)), 0o600); err != nil {
		return fail("%v", err)
	}
	brokerEnv = append(os.Environ(), "KAFKA_PORT="+strconv.Itoa(port), "KAFKA_EXTRA_PROPERTIES="+props)
	start := time.Now()
	if out, err := kafkaSh("start"); err != nil {
		return fail("starting the broker: %v\n%s", err, out)
	}
	defer func() {
		if out, err := kafkaSh("stop"); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the broker: %v\n%s", err, out)
		}
	}()
	// The password goes on the tool's command line: fine for a throwaway
	// test user, never for a real one.
	if out, err := kafkaSh("tool", "configs", "--bootstrap-server", plainAddr, "--alter",
		"--add-config", "SCRAM-SHA-512=[iterations=4096,password="+password+"]",
		"--entity-type", "users", "--entity-name", user); err != nil {
		return fail("creating the SCRAM user with kafka-configs: %v\n%s", err, out)
	}
	if err := awaitSCRAMLogin(90 * time.Second); err != nil {
		return fail("%v", err)
	}
	fmt.Fprintf(os.Stderr, "e2esec: broker with SASL_SSL on %s ready in %s\n", saslAddr, time.Since(start).Round(time.Millisecond))

	if binary, err = itest.BuildWorker(tmp); err != nil {
		return fail("%v", err)
	}
	return m.Run()
}

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "e2esec: "+format+"\n", args...)
	return 1
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func kafkaSh(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(repoRoot, "scripts/kafka.sh")}, args...)...)
	cmd.Dir = repoRoot
	cmd.Env = brokerEnv
	return cmd.CombinedOutput()
}

// makePKI writes a test-only CA, a broker certificate it signs for
// 127.0.0.1 and localhost (as a PKCS12 keystore for the broker), and an
// unrelated CA, all with openssl and its own minimal configuration so the
// system's openssl.cnf cannot change the result.
func makePKI(dir, keystorePass string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	files := map[string]string{
		"ca.cnf": `[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = firehose-worker e2e test CA
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
`,
		"other-ca.cnf": `[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = firehose-worker e2e UNTRUSTED CA
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
`,
		"broker.cnf": `[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
`,
		"broker.ext": `basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	steps := [][]string{
		{"req", "-x509", "-config", "ca.cnf", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2"},
		{"req", "-x509", "-config", "other-ca.cnf", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "2"},
		{"req", "-new", "-config", "broker.cnf", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr"},
		{"x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
			"-out", "broker.pem", "-days", "2", "-extfile", "broker.ext"},
		{"pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key", "-certfile", "ca.pem",
			"-name", "broker", "-out", "broker.p12", "-passout", "pass:" + keystorePass},
	}
	for _, s := range steps {
		cmd := exec.Command("openssl", s...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("openssl %s: %v\n%s", strings.Join(s[:2], " "), err, out)
		}
	}
	return nil
}

// brokerProperties adds a SASL_SSL listener to the broker kafka.sh
// configures, keeping its PLAINTEXT and CONTROLLER listeners.
func brokerProperties(port int, keystorePass string) string {
	return fmt.Sprintf(`listeners=PLAINTEXT://127.0.0.1:%[1]d,CONTROLLER://127.0.0.1:%[2]d,SASL_SSL://127.0.0.1:%[3]d
advertised.listeners=PLAINTEXT://127.0.0.1:%[1]d,SASL_SSL://127.0.0.1:%[3]d
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=%[4]s
listener.name.sasl_ssl.ssl.keystore.password=%[5]s
listener.name.sasl_ssl.ssl.key.password=%[5]s
`, port, port+1, port+2, filepath.Join(pki, "broker.p12"), keystorePass)
}

// awaitSCRAMLogin polls until franz-go logs in over SASL_SSL: kafka-configs
// returns before the new credential has reached the listener.
func awaitSCRAMLogin(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		cl, err := saslClient()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		last = cl.Ping(ctx)
		cancel()
		cl.Close()
		if last == nil {
			return nil
		}
		time.Sleep(250 * time.Millisecond) // poll interval, not synchronisation: the loop ends on success
	}
	return fmt.Errorf("SCRAM-SHA-512 login on %s never succeeded within %s: %v", saslAddr, timeout, last)
}

// saslClient is an independent client (franz-go) on the SASL_SSL listener.
func saslClient(opts ...kgo.Opt) (*kgo.Client, error) {
	caPEM, err := os.ReadFile(filepath.Join(pki, "ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in ca.pem")
	}
	return kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(saslAddr),
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism()),
	}, opts...)...)
}
