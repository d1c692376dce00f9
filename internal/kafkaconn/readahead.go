package kafkaconn

import (
	"bufio"
	"context"
	"net"
)

// readAheadSize is the read buffer under each broker connection. kafka-go
// reads a connection through a 4 KiB bufio.Reader whose size cannot be set,
// so working through a backlog took one read system call per 4 KiB of
// messages (8% of the worker's CPU on a 1 GB backlog). Reading ahead in
// large chunks turns those into copies from memory; 64 KiB already removes
// 15 of 16 calls, and every connection keeps its buffer.
const readAheadSize = 64 << 10

// dialReadAhead dials like kafka-go's default dialer and wraps the
// connection in a read-ahead buffer. TLS, when set, is layered above it by
// kafka-go.
func dialReadAhead(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &readAheadConn{Conn: c, r: bufio.NewReaderSize(c, readAheadSize)}, nil
}

// readAheadConn is a net.Conn whose reads are buffered. Only kafka-go's
// single reader goroutine per connection reads it, so the buffer needs no
// lock; deadlines apply to the socket reads that refill it.
type readAheadConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *readAheadConn) Read(p []byte) (int, error) { return c.r.Read(p) }
