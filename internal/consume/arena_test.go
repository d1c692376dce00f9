package consume

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/firehose-worker/firehose-worker/internal/scrub"
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
	if scrub.On && !bytes.Equal(first, bytes.Repeat([]byte{scrub.Byte}, len(first))) {
		t.Fatalf("race builds must scrub released memory, got %q", first)
	}
	// Reused after release.
	if b := a.alloc(10); len(b) != 10 || len(a.slabs) != 1 {
		t.Fatalf("alloc after release: len %d, %d slabs", len(b), len(a.slabs))
	}
}

// Keep copies a key and a value that then share no memory with the
// original, and keeps nil, empty and present apart (a dead letter writes
// them as they came: an empty value is not a tombstone). On an owned claim
// it leaves them where they are.
func TestKeepCopiesKeyAndValueUnlessOwned(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ key, value []byte }{
		{nil, nil}, {nil, []byte{}}, {[]byte{}, nil}, {[]byte("k"), []byte("v")}, {nil, []byte("value")}, {[]byte("key"), []byte{}},
	} {
		m := kafka.Message{Key: bytes.Clone(c.key), Value: bytes.Clone(c.value)}
		ok, ov := m.Key, m.Value
		(&Claim{}).Keep(&m)
		if (m.Key == nil) != (c.key == nil) || (m.Value == nil) != (c.value == nil) || !bytes.Equal(m.Key, c.key) || !bytes.Equal(m.Value, c.value) {
			t.Fatalf("Keep(%q, %q) gave (%q, %q)", c.key, c.value, m.Key, m.Value)
		}
		for i := range ok {
			ok[i] = 0xff
		}
		for i := range ov {
			ov[i] = 0xff
		}
		if !bytes.Equal(m.Key, c.key) || !bytes.Equal(m.Value, c.value) {
			t.Fatalf("Keep(%q, %q) shares memory with the original", c.key, c.value)
		}
		if len(m.Key) > 0 && cap(m.Key) != len(m.Key) {
			t.Fatalf("the key's capacity reaches into the value")
		}
	}
	v := []byte("value")
	m := kafka.Message{Value: v}
	(&Claim{owned: true}).Keep(&m)
	if &m.Value[0] != &v[0] {
		t.Fatal("Keep copied a value the consumer had given memory of its own")
	}
}
