package delivery

import (
	"context"

	"golang.org/x/sync/semaphore"
)

// Bodies bounds the request bodies being sent and keeps their buffers for
// reuse. One is shared by all the streams of a worker.
//
// Bodies are about 1.4 times the records they carry (base64), so without a
// bound a worker with many streams and large batches could hold several
// times its record memory in bodies. The buffers are kept in a free list of
// their own rather than a sync.Pool: a pool is emptied by every collection,
// and with a soft memory limit collections come several times a second, so
// most calls built their multi-MB body in a fresh, zeroed allocation (60 MB/s
// on a backlog).
type Bodies struct {
	sem  *semaphore.Weighted
	size int64
	free chan *bodyBuffer
}

// keptBodies is how many idle buffers Bodies keeps; keptBodyCap the largest
// it keeps, so one 4 MiB batch does not pin its buffer for good.
const (
	keptBodies  = 8
	keptBodyCap = 2 << 20
)

// NewBodies returns a bound of size bytes of bodies in flight.
func NewBodies(size int64) *Bodies {
	return &Bodies{sem: semaphore.NewWeighted(size), size: size, free: make(chan *bodyBuffer, keptBodies)}
}

// acquire waits for room for a body of n bytes and returns what it took; a
// body larger than the bound takes all of it. A nil Bodies bounds nothing.
func (b *Bodies) acquire(ctx context.Context, n int64) (int64, error) {
	if b == nil {
		return 0, nil
	}
	n = min(n, b.size)
	return n, b.sem.Acquire(ctx, n)
}

func (b *Bodies) release(n int64) {
	if b != nil && n > 0 {
		b.sem.Release(n)
	}
}

// buffer returns an idle buffer or a new one.
func (b *Bodies) buffer() *bodyBuffer {
	if b != nil {
		select {
		case bb := <-b.free:
			return bb
		default:
		}
	}
	return &bodyBuffer{}
}

// keep takes back a buffer no call is using any more.
func (b *Bodies) keep(bb *bodyBuffer) {
	if b == nil || cap(bb.b) > keptBodyCap {
		return
	}
	bb.hash = ""
	select {
	case b.free <- bb:
	default:
	}
}

// withBody gives the call made with ctx a body buffer. release must be
// called once the call has returned.
func (b *Bodies) withBody(ctx context.Context) (context.Context, func()) {
	bb := b.buffer()
	return context.WithValue(ctx, bodyKey{}, bb), func() {
		// The HTTP transport may still be reading the body of a call
		// whose answer came early; detaching waits for that read and
		// makes later ones fail, so the buffer is safe to reuse.
		if bb.r != nil {
			bb.r.detach()
			bb.r = nil
		}
		b.keep(bb)
	}
}
