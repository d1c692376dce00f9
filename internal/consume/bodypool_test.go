package consume

import "testing"

func TestBodyPoolKeepsAFewBuffersOfItsSize(t *testing.T) {
	t.Parallel()
	p := newBodyPool(1024, 2)

	a := p.get(100)
	if len(a) != 100 || cap(a) != 1024 {
		t.Fatalf("get(100): len %d cap %d, want 100 and the pool's size 1024", len(a), cap(a))
	}
	p.put(a)
	if b := p.get(1024); &b[0] != &a[0] {
		t.Fatal("a buffer given back was not reused")
	} else {
		p.put(b)
	}

	// A response larger than the size gets a buffer of its own, not kept.
	big := p.get(4096)
	if len(big) != 4096 {
		t.Fatalf("get(4096): len %d", len(big))
	}
	p.put(big)
	if c := p.get(10); cap(c) != 1024 {
		t.Fatalf("an oversized buffer was kept: cap %d", cap(c))
	} else {
		p.put(c)
	}

	// No more than keep buffers are retained, however many come back.
	bufs := [][]byte{p.get(1), p.get(1), p.get(1), p.get(1)}
	for _, b := range bufs {
		p.put(b)
	}
	if n := len(p.free); n != 2 {
		t.Fatalf("%d buffers kept, want at most 2", n)
	}
}
