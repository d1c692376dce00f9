package firehosesim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Endpoint is a Server listening on a TCP address.
type Endpoint struct {
	// URL is the base URL to give the SDK as BaseEndpoint (or through
	// AWS_ENDPOINT_URL_FIREHOSE), e.g. "http://127.0.0.1:41234".
	URL string

	srv      *http.Server
	done     chan error // receives Serve's result once
	once     sync.Once
	closeErr error
}

// Start listens on addr (":0" picks a free port) and serves s until Close.
// A listener bound to every interface is announced on 127.0.0.1, so URL is
// always dialable. The Sink is not closed by the Endpoint: its owner closes
// it after Close returns, when no call can reach it any more.
func (s *Server) Start(addr string) (*Endpoint, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("firehosesim: listening on %q: %w", addr, err)
	}
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		_ = ln.Close()
		return nil, fmt.Errorf("firehosesim: %q is not a TCP address", addr)
	}
	host := tcp.IP
	if host == nil || host.IsUnspecified() {
		host = net.IPv4(127, 0, 0, 1)
	}
	e := &Endpoint{
		URL:  "http://" + net.JoinHostPort(host.String(), strconv.Itoa(tcp.Port)),
		srv:  &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan error, 1),
	}
	// The goroutine ends when Close shuts the server down.
	go func() { e.done <- e.srv.Serve(ln) }()
	return e, nil
}

// Close stops accepting calls and waits for calls in progress to finish; when
// ctx ends first it cuts the remaining connections and returns ctx's error.
// Later calls return the first call's result.
func (e *Endpoint) Close(ctx context.Context) error {
	e.once.Do(func() { e.closeErr = e.shutdown(ctx) })
	return e.closeErr
}

func (e *Endpoint) shutdown(ctx context.Context) error {
	err := e.srv.Shutdown(ctx)
	if err != nil {
		_ = e.srv.Close()
		err = fmt.Errorf("firehosesim: shutting down %s: %w", e.URL, err)
	}
	if serveErr := <-e.done; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return errors.Join(err, fmt.Errorf("firehosesim: serving %s: %w", e.URL, serveErr))
	}
	return err
}
