package eventgen

import (
	"regexp"
	"testing"
)

func TestAppendUUID(t *testing.T) {
	lower := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	upper := regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)
	seen := map[string]bool{}
	for i := range uint64(10_000) {
		// The same extra bits for all: uniqueness must come from unique.
		u := string(appendUUID(nil, mix64(i), 0xffffffffffffffff, false))
		if !lower.MatchString(u) {
			t.Fatalf("%s is not a version 4 UUID", u)
		}
		if seen[u] {
			t.Fatalf("%s repeats", u)
		}
		seen[u] = true
		if u := string(appendUUID(nil, mix64(i), i, true)); !upper.MatchString(u) {
			t.Fatalf("%s is not an upper-case version 4 UUID", u)
		}
	}
}

func TestAppendBase62(t *testing.T) {
	for _, v := range []uint64{0, 1, 61, 62, 1 << 63, ^uint64(0)} {
		s := appendBase62(nil, v, 11)
		if len(s) != 11 {
			t.Fatalf("%d: %q is not 11 digits", v, s)
		}
		var back uint64
		for _, c := range s {
			back = back*62 + uint64(indexByte(base62, c))
		}
		if back != v {
			t.Errorf("%d encoded as %s, which reads back as %d", v, s, back)
		}
	}
}

func indexByte(s string, c byte) int {
	for i := range len(s) {
		if s[i] == c {
			return i
		}
	}
	return -1
}
