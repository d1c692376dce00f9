package kafkaconn

import (
	"context"
	"errors"
	"fmt"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/aws_msk_iam_v2"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/firehose-worker/firehose-worker/config"
)

// mechanism returns nil when SASL is off.
func mechanism(ctx context.Context, s config.SASL) (sasl.Mechanism, error) {
	var m sasl.Mechanism
	switch s.Mechanism {
	case "":
		return nil, nil
	case config.SASLPlain:
		pw, err := password(s)
		if err != nil {
			return nil, err
		}
		m = plain.Mechanism{Username: s.Username, Password: pw}
	case config.SASLScramSHA256, config.SASLScramSHA512:
		pw, err := password(s)
		if err != nil {
			return nil, err
		}
		algo := scram.SHA512
		if s.Mechanism == config.SASLScramSHA256 {
			algo = scram.SHA256
		}
		sm, err := scram.Mechanism(algo, s.Username, pw)
		if err != nil {
			// SASLprep refuses some usernames and passwords; the error names
			// the rule, not the value.
			return nil, fmt.Errorf("kafka.sasl: %s: %w", s.Mechanism, err)
		}
		m = sm
	case config.SASLAWSMSKIAM:
		// The default chain, as for Firehose: env, shared files, web
		// identity, ECS and EC2 roles. The SDK caches and refreshes the
		// credentials; each new connection signs with the current ones.
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(s.Region))
		if err != nil {
			return nil, fmt.Errorf("kafka.sasl: %s: loading the AWS configuration: %w", s.Mechanism, err)
		}
		m = aws_msk_iam_v2.NewMechanism(awsCfg)
	default:
		return nil, fmt.Errorf("kafka.sasl.mechanism: unsupported %q", s.Mechanism)
	}
	return masked{m}, nil
}

// password resolves the single password source that validation allowed.
func password(s config.SASL) (string, error) {
	if s.PasswordEnv != "" || s.PasswordFile != "" {
		return config.ReadSecret("kafka.sasl.password", s.PasswordEnv, s.PasswordFile)
	}
	if s.Password != "" {
		return string(s.Password), nil
	}
	return "", errors.New("kafka.sasl.password: no password is configured")
}

// masked keeps a mechanism's fields out of every printout: plain.Mechanism,
// for one, holds the password in an exported field that %+v of a Dialer
// would show, and the MSK mechanism holds a credentials provider.
type masked struct{ sasl.Mechanism }

func (m masked) String() string { return "sasl(" + m.Name() + ")" }

// GoString covers %#v.
func (m masked) GoString() string { return m.String() }

// Format covers every verb, %+v included.
func (m masked) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(m.String())) }

// MarshalJSON covers JSON dumps and slog's JSON handler.
func (m masked) MarshalJSON() ([]byte, error) { return []byte(`"` + m.String() + `"`), nil }

// MarshalText covers slog's text handler and other text encoders.
func (m masked) MarshalText() ([]byte, error) { return []byte(m.String()), nil }
