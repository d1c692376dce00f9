package firehosesim

import "context"

// Sink receives the records a Server accepts: the "destination" behind the
// simulated Firehose stream.
//
// Write is called once per call that accepted at least one record, with the
// accepted records of that call in request order, each exactly as decoded
// from base64. It is called before the client gets its answer, and may be
// called from many goroutines at once (one per concurrent call). The record
// slices alias buffers the Server reuses: a Sink that keeps them must copy.
//
// A Write error means the records did not land: the Server reports each of
// them as failed with ErrorCode InternalFailure (for PutRecord, the call fails
// with HTTP 500), so a correct client sends them again. ctx is the request's
// context; a Sink that blocks should honour it.
type Sink interface {
	Write(ctx context.Context, stream string, records [][]byte) error
}

// SinkFunc adapts a function to Sink, for tests that want to see or fail
// writes directly.
type SinkFunc func(ctx context.Context, stream string, records [][]byte) error

// Write calls fn.
func (fn SinkFunc) Write(ctx context.Context, stream string, records [][]byte) error {
	return fn(ctx, stream, records)
}
