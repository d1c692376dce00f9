package delivery

import (
	"context"
	"sync"

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
// on a backlog). The idle buffers kept add up to at most the bound, so
// bodies in flight and idle together stay within twice the bound, and in
// practice near the most that were ever in flight at once.
type Bodies struct {
	sem  *semaphore.Weighted
	size int64

	mu   sync.Mutex
	free []*RequestBody
	kept int64 // capacity of the buffers in free
}

// keptBodyCap is the largest buffer Bodies keeps, so that one batch of
// 4 MiB does not pin its buffer for good.
const keptBodyCap = 2 << 20

// NewBodies returns a bound of size bytes of bodies in flight.
func NewBodies(size int64) *Bodies {
	return &Bodies{sem: semaphore.NewWeighted(size), size: size}
}

// Size is the bound in bytes.
func (b *Bodies) Size() int64 { return b.size }

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

// body returns an idle body, the last kept, or a new one. The caller owns it
// until it hands it back with keep, once the call has returned.
func (b *Bodies) body() *RequestBody {
	if b != nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		if n := len(b.free); n > 0 {
			rb := b.free[n-1]
			b.free[n-1] = nil
			b.free = b.free[:n-1]
			b.kept -= int64(cap(rb.b))
			return rb
		}
	}
	return newRequestBody()
}

// keep takes back a body whose call has returned.
func (b *Bodies) keep(rb *RequestBody) {
	rb.done()
	if b == nil || cap(rb.b) > keptBodyCap {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kept+int64(cap(rb.b)) > b.size {
		return
	}
	b.free = append(b.free, rb)
	b.kept += int64(cap(rb.b))
}
