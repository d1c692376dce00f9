package kafkawire

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/fetch"
	"github.com/segmentio/kafka-go/protocol/saslauthenticate"
	"github.com/segmentio/kafka-go/protocol/saslhandshake"
	"github.com/segmentio/kafka-go/sasl"
)

// Versions of the SASL messages sent: the last non-flexible ones, which
// kafka-go encodes and every broker with SASL since Kafka 1.0 serves.
const (
	saslHandshakeVersion    = 1
	saslAuthenticateVersion = 1
)

// maxResponse bounds the size a broker may announce for one response, so
// a corrupt size (or a TLS alert read as plain text) cannot make us
// allocate without bound. A fetch asks for far less (fetch_max_bytes).
const maxResponse = 1 << 30

// DialOptions say how to reach and authenticate to a broker, as a
// kafka.Dialer does.
type DialOptions struct {
	// Dial opens the TCP connection; nil uses a net.Dialer with Timeout.
	Dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	Timeout  time.Duration
	TLS      *tls.Config
	SASL     sasl.Mechanism
	ClientID string
}

// Conn is one connection to a broker that sends Fetch requests and returns
// their responses' bytes. It is not safe for concurrent use: a fetch loop
// owns one.
type Conn struct {
	c        net.Conn
	clientID string
	corr     int32
	// req holds the bytes of the last request sent, reused for the next.
	req []byte
}

// Dial connects to addr, with TLS and SASL as opts say.
func Dial(ctx context.Context, addr string, opts DialOptions) (*Conn, error) {
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	dial := opts.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", addr, err)
	}
	fc := &Conn{c: c, clientID: opts.ClientID}
	if err := fc.setup(ctx, addr, opts); err != nil {
		_ = fc.c.Close()
		return nil, err
	}
	return fc, nil
}

func (fc *Conn) setup(ctx context.Context, addr string, opts DialOptions) error {
	if opts.TLS != nil {
		cfg := opts.TLS
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		tc := tls.Client(fc.c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		fc.c = tc
	}
	if opts.SASL == nil {
		return nil
	}
	stop := fc.deadline(ctx)
	defer stop()
	// Mechanisms that sign for a host (AWS MSK IAM) read it from here.
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	ctx = sasl.WithMetadata(ctx, &sasl.Metadata{Host: host, Port: port})
	if err := fc.authenticate(ctx, opts.SASL); err != nil {
		return fmt.Errorf("SASL %s with %s: %w", opts.SASL.Name(), addr, err)
	}
	return nil
}

// authenticate runs the SASL exchange kafka-go's Transport runs.
func (fc *Conn) authenticate(ctx context.Context, m sasl.Mechanism) error {
	msg, err := fc.roundTrip(saslHandshakeVersion, &saslhandshake.Request{Mechanism: m.Name()})
	if err != nil {
		return err
	}
	if code := msg.(*saslhandshake.Response).ErrorCode; code != 0 {
		return kafka.Error(code)
	}
	sess, state, err := m.Start(ctx)
	if err != nil {
		return err
	}
	for done := false; !done; {
		msg, err := fc.roundTrip(saslAuthenticateVersion, &saslauthenticate.Request{AuthBytes: state})
		if errors.Is(err, io.EOF) {
			// A broker may end a failed exchange by closing the connection.
			return kafka.SASLAuthenticationFailed
		}
		if err != nil {
			return err
		}
		res := msg.(*saslauthenticate.Response)
		if res.ErrorCode != 0 {
			// The message is the broker's; it names no credentials.
			return fmt.Errorf("%w: %s", kafka.Error(res.ErrorCode), res.ErrorMessage)
		}
		if done, state, err = sess.Next(ctx, res.AuthBytes); err != nil {
			return err
		}
	}
	return nil
}

func (fc *Conn) roundTrip(version int16, req protocol.Message) (protocol.Message, error) {
	fc.corr++
	return protocol.RoundTrip(fc.c, version, fc.corr, fc.clientID, req)
}

// deadline makes the connection's reads and writes end with ctx; the
// returned func undoes it.
func (fc *Conn) deadline(ctx context.Context) (stop func()) {
	if d, ok := ctx.Deadline(); ok {
		_ = fc.c.SetDeadline(d)
	}
	unwatch := context.AfterFunc(ctx, func() { _ = fc.c.SetDeadline(time.Unix(1, 0)) })
	return func() {
		unwatch()
		_ = fc.c.SetDeadline(time.Time{})
	}
}

// Fetch sends req as a Fetch v11 request and returns the response's bytes
// after its correlation id, ready for FetchResponse.DecodeFetch. They are
// read into the buffer buf returns for the response's size (its length
// must be that size), which is asked for only once the response has begun
// to arrive: a long poll holds no buffer while it waits. A Fetch that
// fails (ctx ended, I/O error) leaves the connection unusable: close it
// and dial again. When it fails while reading the response it still
// returns the buffer it took, so the caller can give it back.
func (fc *Conn) Fetch(ctx context.Context, req *fetch.Request, buf func(n int) []byte) ([]byte, error) {
	stop := fc.deadline(ctx)
	defer stop()
	fc.corr++
	fc.req = appendFetchRequest(fc.req[:0], fc.corr, fc.clientID, req)
	if _, err := fc.c.Write(fc.req); err != nil {
		return nil, fc.ioErr(ctx, "writing a fetch request", err)
	}
	var head [8]byte
	if _, err := io.ReadFull(fc.c, head[:]); err != nil {
		return nil, fc.ioErr(ctx, "reading a fetch response", err)
	}
	size := int64(int32(binary.BigEndian.Uint32(head[:4])))
	if size < 4 || size > maxResponse {
		return nil, fmt.Errorf("%w: a fetch response of %d bytes", ErrMalformed, size)
	}
	if corr := int32(binary.BigEndian.Uint32(head[4:])); corr != fc.corr {
		return nil, fmt.Errorf("%w: correlation id %d, want %d", ErrMalformed, corr, fc.corr)
	}
	b := buf(int(size - 4))
	if _, err := io.ReadFull(fc.c, b); err != nil {
		return b, fc.ioErr(ctx, "reading a fetch response", err)
	}
	return b, nil
}

func (fc *Conn) ioErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Close closes the connection.
func (fc *Conn) Close() error { return fc.c.Close() }
