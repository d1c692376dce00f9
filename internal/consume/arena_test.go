package consume

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

// An arena's allocations never overlap, keep what was written to them until
// release, spill across slabs, and give a large value memory of its own.
func TestArenaAllocationsAreDisjointUntilRelease(t *testing.T) {
	t.Parallel()
	var pool sync.Pool
	a := arena{pool: &pool}
	if b := a.alloc(0); b == nil || len(a.slabs) != 0 {
		t.Fatalf("alloc(0) = %v with %d slabs: an empty value must stay empty, not nil, and take no slab", b, len(a.slabs))
	}
	var got [][]byte
	var want []string
	for i := range 3000 {
		v := fmt.Appendf(nil, "value %d %s", i, bytes.Repeat([]byte{'x'}, i%500))
		b := a.alloc(len(v))
		if len(b) != len(v) || cap(b) != len(v) {
			t.Fatalf("alloc(%d) gave len %d cap %d: appending to one value must not reach the next", len(v), len(b), cap(b))
		}
		copy(b, v)
		got, want = append(got, b), append(want, string(v))
	}
	big := a.alloc(slabSize/4 + 1)
	if len(a.slabs) < 2 {
		t.Fatalf("%d slabs for about 800 KB of values: they must spill into more slabs", len(a.slabs))
	}
	slabs := len(a.slabs)
	for i := range got {
		if string(got[i]) != want[i] {
			t.Fatalf("value %d changed before release: %q", i, got[i])
		}
	}
	if len(big) != slabSize/4+1 || len(a.slabs) != slabs {
		t.Fatalf("a value over a quarter slab must get memory of its own, not a slab (len %d, slabs %d -> %d)", len(big), slabs, len(a.slabs))
	}
	first := got[0]
	a.release()
	if len(a.slabs) != 0 || len(a.room) != 0 {
		t.Fatalf("after release: %d slabs, %d bytes of room", len(a.slabs), len(a.room))
	}
	if scrubReleased && !bytes.Equal(first, bytes.Repeat([]byte{scrub}, len(first))) {
		t.Fatalf("race builds must scrub released memory, got %q", first)
	}
	// Reused after release.
	if b := a.alloc(10); len(b) != 10 || len(a.slabs) != 1 {
		t.Fatalf("alloc after release: len %d, %d slabs", len(b), len(a.slabs))
	}
}
