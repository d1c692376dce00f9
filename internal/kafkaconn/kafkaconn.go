// Package kafkaconn turns the kafka.tls and kafka.sasl settings into the
// kafka-go values that open broker connections: a *kafka.Dialer for the
// consumer group and its readers, and a *kafka.Transport for the dead-letter
// writer and offset look-ups. Both carry the same TLS configuration and SASL
// mechanism, so every connection the worker makes is secured the same way.
//
// Secrets are resolved once, here, and live only inside the SASL mechanism,
// which prints as its name: formatting a Dialer or Transport cannot leak them.
package kafkaconn

import (
	"context"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/firehose-worker/firehose-worker/config"
)

// dialTimeout bounds one connection: TCP, TLS handshake and SASL exchange.
const dialTimeout = 10 * time.Second

// Conn is what Build makes from the configuration.
type Conn struct {
	Dialer    *kafka.Dialer
	Transport *kafka.Transport
	// Mechanism is the SASL mechanism name, "" without SASL; for logs.
	Mechanism string
	// Username is the SASL user, for error messages; "" for none or MSK IAM.
	Username string
}

// Build reads the files and environment the configuration names (CA,
// client certificate, password) and returns the dialer and transport. Errors
// name the configuration key at fault. Settings that weaken security are
// logged as warnings on log every time, so they cannot go unnoticed.
//
// ctx bounds loading the AWS configuration for AWS_MSK_IAM; credentials
// themselves are fetched, and refreshed, on each new connection.
func Build(ctx context.Context, k config.Kafka, log *slog.Logger) (*Conn, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, w := range k.SecurityWarnings() {
		log.Warn("SECURITY WARNING: " + w)
	}
	tlsCfg, err := tlsConfig(k.TLS)
	if err != nil {
		return nil, err
	}
	mech, err := mechanism(ctx, k.SASL)
	if err != nil {
		return nil, err
	}
	c := &Conn{
		Dialer: &kafka.Dialer{
			ClientID: k.ClientID,
			Timeout:  dialTimeout,
			DialFunc: dialReadAhead,
			TLS:      tlsCfg,
		},
		Transport: &kafka.Transport{
			ClientID:    k.ClientID,
			DialTimeout: dialTimeout,
			TLS:         tlsCfg,
		},
		Mechanism: k.SASL.Mechanism,
	}
	if k.SASL.Mechanism != config.SASLAWSMSKIAM {
		c.Username = k.SASL.Username
	}
	// A nil interface, not a typed nil, when SASL is off: kafka-go tests
	// the interface against nil.
	if mech != nil {
		c.Dialer.SASLMechanism = mech
		c.Transport.SASL = mech
	}
	return c, nil
}
