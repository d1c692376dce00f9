package delivery

import (
	"context"
	"testing"
	"time"
)

func TestBodiesRecycleBuffersWithinBounds(t *testing.T) {
	t.Parallel()
	b := NewBodies(1 << 20)
	bb := b.body()
	bb.b = make([]byte, 0, 4096)
	bb.r = &guardedReader{hash: "stale"}
	b.keep(bb)
	if got := b.body(); got != bb || got.r != nil {
		t.Fatalf("an idle body was not reused, or still has its reader")
	}
	big := newRequestBody()
	big.b = make([]byte, 0, keptBodyCap+1)
	b.keep(big)
	if got := b.body(); got == big {
		t.Error("a buffer over keptBodyCap was kept")
	}
	// Idle buffers add up to at most the bound (1 MiB): three of 400 KB
	// do not fit, two do.
	b.body() // empty the list
	for range 3 {
		rb := newRequestBody()
		rb.b = make([]byte, 0, 400<<10)
		b.keep(rb)
	}
	if n := len(b.free); n != 2 || b.kept != 800<<10 {
		t.Errorf("%d idle buffers kept (%d bytes), want 2 (819200)", n, b.kept)
	}
}

func TestBodiesBoundWaitsAndOversizeTakesAll(t *testing.T) {
	t.Parallel()
	b := NewBodies(100)
	n, err := b.acquire(context.Background(), 1000)
	if err != nil || n != 100 {
		t.Fatalf("a body over the bound took %d (%v), want all 100", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.acquire(ctx, 1); err == nil {
		t.Fatal("acquired past a full bound")
	}
	b.release(n)
	if _, err := b.acquire(context.Background(), 60); err != nil {
		t.Fatal(err)
	}
}
