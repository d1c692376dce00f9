package kafkaconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/segmentio/kafka-go"

	"github.com/firehose-worker/firehose-worker/config"
)

// CheckError is a connection failure that retrying cannot fix: the brokers
// refused the credentials, or a certificate could not be verified. Run it
// through errors.As to tell it from a broker that is merely unreachable.
type CheckError struct {
	Broker string
	// Problem says what is wrong and which setting to look at.
	Problem string
	Err     error
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("kafka: %s (broker %s): %v", e.Problem, e.Broker, e.Err)
}

func (e *CheckError) Unwrap() error { return e.Err }

// Check opens one connection the way the consumer will (TCP, TLS, SASL) and
// asks for the cluster's metadata, trying each broker in turn until one
// answers. It returns nil as soon as one does, a *CheckError at once when a
// broker rejects the credentials or its certificate, and otherwise the last
// error, for instance when no broker is reachable yet.
//
// A long-running worker retries unreachable brokers forever, which is right
// for a broker restart but hides a wrong password or CA behind an endless
// stream of retries; Check lets the caller stop at start instead.
func Check(ctx context.Context, brokers []string, c *Conn) error {
	var last error
	for _, b := range brokers {
		err := checkOne(ctx, b, c.Dialer)
		if err == nil {
			return nil
		}
		if p := classify(b, err, c); p != nil {
			return p
		}
		last = fmt.Errorf("kafka: connecting to %s: %w%s", b, err, hint(err, c))
		if ctx.Err() != nil {
			break
		}
	}
	return last
}

func checkOne(ctx context.Context, broker string, d *kafka.Dialer) error {
	conn, err := d.DialContext(ctx, "tcp", broker)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Dialing alone proves TLS and SASL; a request proves the broker serves
	// this listener to an authenticated client, and catches a SASL listener
	// reached without SASL, which accepts the connection and then drops it.
	_, err = conn.Brokers()
	return err
}

// classify returns a *CheckError for failures that do not go away by
// retrying, and nil for the rest.
func classify(broker string, err error, c *Conn) *CheckError {
	e := &CheckError{Broker: broker, Err: err}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
		op        *net.OpError
	)
	switch {
	case errors.Is(err, kafka.SASLAuthenticationFailed):
		e.Problem = fmt.Sprintf("SASL authentication failed: the broker rejected user %q with %s; check kafka.sasl.username and the password", c.Username, c.Mechanism)
		if c.Mechanism == config.SASLAWSMSKIAM {
			e.Problem = "SASL authentication failed: MSK rejected the AWS_MSK_IAM signature; check the AWS credentials, kafka.sasl.region and the IAM policy (kafka-cluster:Connect)"
		}
	case errors.Is(err, kafka.UnsupportedSASLMechanism):
		e.Problem = fmt.Sprintf("SASL: the broker's listener does not enable %s; check kafka.sasl.mechanism and the broker's sasl.enabled.mechanisms", c.Mechanism)
	case errors.Is(err, kafka.IllegalSASLState):
		e.Problem = "SASL: the broker's listener does not expect SASL here; is it a PLAINTEXT or SSL listener? check kafka.sasl.mechanism"
	case errors.As(err, &unknownCA):
		e.Problem = "TLS: the broker's certificate is signed by an unknown authority; set kafka.tls.ca_file to the CA that signs the brokers' certificates"
	case errors.As(err, &hostname):
		e.Problem = "TLS: the broker's certificate is not valid for the address dialed; use the name in its certificate, or set kafka.tls.server_name"
	case errors.As(err, &invalid):
		e.Problem = "TLS: the broker's certificate is not valid (expired, not yet valid, or not for server use)"
	case errors.As(err, &record):
		e.Problem = "TLS: the broker did not answer the TLS handshake with TLS; is kafka.tls.enabled set for a PLAINTEXT or SASL_PLAINTEXT listener?"
	case errors.As(err, &op) && op.Op == "remote error":
		// Over TCP, crypto/tls reports an alert from the peer this way.
		e.Problem = "TLS: the broker refused the handshake; if it requires a client certificate (mTLS), set kafka.tls.cert_file and kafka.tls.key_file"
	default:
		return nil
	}
	return e
}

// hint explains a connection the broker closed at once, which is also what a
// restarting broker does, so it is worth a hint but not a verdict.
func hint(err error, c *Conn) string {
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		return ""
	}
	switch {
	case c.Dialer.TLS == nil && c.Mechanism == "":
		return " (the broker closed the connection: if this listener uses TLS or SASL, set kafka.tls or kafka.sasl)"
	case c.Dialer.TLS == nil:
		return " (the broker closed the connection: if this listener uses TLS, set kafka.tls.enabled)"
	case c.Mechanism == "":
		return " (the broker closed the connection: if this listener uses SASL, set kafka.sasl)"
	}
	return ""
}
