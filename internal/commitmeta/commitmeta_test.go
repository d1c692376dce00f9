package commitmeta

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		committed int64
		ranges    []Range
	}{
		{"one range right after the committed offset", 100, []Range{{101, 150}}},
		{"a range at the committed offset itself", 100, []Range{{100, 100}}},
		{"several with unfinished gaps", 0, []Range{{1, 1}, {3, 9}, {11, 11}, {500, 1000}}},
		{"large offsets", 1 << 40, []Range{{1<<40 + 7, 1<<40 + 70000}}},
		{"near the top of the offset space", math.MaxInt64 - 10, []Range{{math.MaxInt64 - 5, math.MaxInt64 - 1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			meta, n, err := Encode(c.committed, c.ranges, 4096)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(c.ranges) {
				t.Fatalf("encoded %d of %d ranges", n, len(c.ranges))
			}
			got, err := Decode(meta, c.committed)
			if err != nil {
				t.Fatalf("decode %q: %v", meta, err)
			}
			if !reflect.DeepEqual(got, c.ranges) {
				t.Errorf("got %v, want %v", got, c.ranges)
			}
		})
	}
}

func TestEncodeRejectsRangesThatAreNotNormalized(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		committed int64
		ranges    []Range
	}{
		{"before the committed offset", 10, []Range{{5, 20}}},
		{"unsorted", 0, []Range{{10, 12}, {3, 4}}},
		{"adjacent", 0, []Range{{3, 4}, {5, 6}}},
		{"inverted", 0, []Range{{9, 3}}},
		{"negative committed", -1, []Range{{3, 4}}},
		{"ends at the largest offset", 0, []Range{{3, math.MaxInt64}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if meta, _, err := Encode(c.committed, c.ranges, 4096); err == nil {
				t.Errorf("encoded %q", meta)
			}
		})
	}
}

func TestBudget(t *testing.T) {
	t.Parallel()
	var ranges []Range
	for i := int64(0); i < 2000; i++ {
		ranges = append(ranges, Range{1000 + 3*i, 1000 + 3*i + 1})
	}
	for _, budget := range []int{MinBudget, 100, 300, 4096} {
		meta, n, err := Encode(999, ranges, budget)
		if err != nil {
			t.Fatal(err)
		}
		if len(meta) > budget {
			t.Errorf("budget %d: %d bytes", budget, len(meta))
		}
		if n == 0 || n == len(ranges) {
			t.Errorf("budget %d: %d of %d ranges; want some but not all", budget, n, len(ranges))
		}
		got, err := Decode(meta, 999)
		if err != nil {
			t.Fatalf("budget %d: %v", budget, err)
		}
		if !reflect.DeepEqual(got, ranges[:n]) {
			t.Errorf("budget %d: did not keep the nearest %d ranges", budget, n)
		}
		// One more range would not have fitted.
		if more, _, _ := Encode(999, ranges[:n+1], 1<<20); len(more) <= budget {
			t.Errorf("budget %d: %d ranges fit in %d bytes, Encode kept only %d", budget, n+1, len(more), n)
		}
	}
	if meta, n, err := Encode(1<<60, []Range{{1<<60 + 1<<40, 1<<60 + 1<<41}}, 10); err != nil || meta != "" || n != 0 {
		t.Errorf("nothing fits: got %q, %d, %v; want a plain commit", meta, n, err)
	}
	if meta, n, err := Encode(5, nil, 4096); err != nil || meta != "" || n != 0 {
		t.Errorf("no ranges: got %q, %d, %v", meta, n, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	good, _, err := Encode(100, []Range{{102, 110}, {200, 300}}, 4096)
	if err != nil {
		t.Fatal(err)
	}
	flip := []byte(good)
	flip[len(flip)-2] ^= 1
	cases := []struct {
		name      string
		meta      string
		committed int64
		want      error
	}{
		{"empty, a plain commit", "", 100, ErrForeign},
		{"another tool's", "consumer-1 2026-12-01", 100, ErrForeign},
		{"another version", "fhw2" + good[header:], 100, ErrVersion},
		{"another committed offset", good, 101, ErrStale},
		{"truncated", good[:len(good)-3], 100, ErrCorrupt},
		{"one bit changed", string(flip), 100, ErrCorrupt},
		{"not base64", "fhw1!!!!", 100, ErrCorrupt},
		{"too short for a checksum", "fhw1AA", 100, ErrCorrupt},
		{"trailing garbage", good + "AAAA", 100, ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := Decode(c.meta, c.committed)
			if !errors.Is(err, c.want) {
				t.Errorf("Decode(%q) = %v, %v; want %v", c.meta, got, err, c.want)
			}
			if got != nil {
				t.Errorf("ranges returned with an error: %v", got)
			}
		})
	}
}

func TestMetadataIsPrintableASCII(t *testing.T) {
	t.Parallel()
	meta, _, err := Encode(7, []Range{{8, 1 << 33}}, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if strings.IndexFunc(meta, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		t.Errorf("%q has bytes a UTF-8 string would not keep as they are", meta)
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   []Range
		from int64
		want []Range
	}{
		{"merges overlapping and adjacent", []Range{{10, 12}, {5, 6}, {7, 8}, {11, 20}}, 0, []Range{{5, 8}, {10, 20}}},
		{"clips below from", []Range{{1, 4}, {6, 9}}, 3, []Range{{3, 4}, {6, 9}}},
		{"drops what is all below from", []Range{{1, 2}, {6, 9}}, 5, []Range{{6, 9}}},
		{"drops inverted", []Range{{9, 3}}, 0, []Range{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := Normalize(c.in, c.from); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

// FuzzDecode: no input panics, and whatever Decode accepts is a set Encode
// writes back byte for byte (so Decode reads nothing Encode did not mean).
func FuzzDecode(f *testing.F) {
	for _, c := range []struct {
		committed int64
		ranges    []Range
	}{{0, []Range{{1, 3}}}, {100, []Range{{100, 100}, {102, 200}}}, {1 << 40, nil}} {
		meta, _, _ := Encode(c.committed, c.ranges, 4096)
		f.Add(meta, c.committed)
	}
	f.Add("fhw1", int64(0))
	f.Add("fhw1AAAAAAA", int64(0))
	f.Fuzz(func(t *testing.T, meta string, committed int64) {
		got, err := Decode(meta, committed)
		if err != nil {
			return
		}
		again, n, err := Encode(committed, got, len(meta))
		if err != nil {
			t.Fatalf("Decode(%q) = %v, which Encode refuses: %v", meta, got, err)
		}
		if n != len(got) || again != meta {
			t.Fatalf("Decode(%q) = %v; encoded again: %q (%d ranges)", meta, got, again, n)
		}
	})
}
