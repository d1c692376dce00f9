// Package commitmeta encodes, in the metadata string of a Kafka offset
// commit, which offsets beyond the committed one are already finished, so a
// partition's next owner can skip them instead of sending them again.
//
// A partition's committed offset is the oldest message not yet finished;
// messages after it finish out of order (a slow stream holds the commit back
// while the others flow), and a crash would have the next owner re-read them
// all. The committed offset itself keeps its usual meaning for every other
// tool: this package only adds to the metadata beside it.
//
// What callers may rely on:
//   - Decode never returns a range that Encode was not given for the same
//     committed offset: metadata from another tool or version, for another
//     offset, truncated or altered, is rejected with an error (ErrForeign,
//     ErrVersion, ErrStale, ErrCorrupt), never read as something else.
//   - Encode's output is at most budget bytes of printable ASCII (Kafka keeps
//     metadata as a UTF-8 string, so raw bytes would not survive the broker).
//     When not every range fits, it encodes the ones nearest the committed
//     offset that do; when none fits it returns "", a plain commit.
//
// Format: "fhw" + version digit + base64url(no padding) of
// CRC-32C(rest, 4 bytes big-endian) | uvarint committed | uvarint n |
// n x (uvarint gap, uvarint length-1), where the first gap is counted from
// the committed offset and every later one from two past the previous
// range's last offset, so ranges are sorted, disjoint and never adjacent.
package commitmeta

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"strings"
)

// Range is the finished offsets First..Last, both included.
type Range struct{ First, Last int64 }

const (
	magic   = "fhw"
	version = '1'
	header  = len(magic) + 1
	crcLen  = 4
)

// MinBudget is the smallest budget that holds one range of small offsets.
const MinBudget = 16

var (
	// ErrForeign: the metadata was not written by this package.
	ErrForeign = errors.New("metadata not written by firehose-worker")
	// ErrVersion: written by another version of the format.
	ErrVersion = errors.New("metadata written by another format version")
	// ErrStale: written for another committed offset, e.g. before a tool
	// moved the group's offset.
	ErrStale = errors.New("metadata written for another committed offset")
	// ErrCorrupt: the checksum or the structure is wrong.
	ErrCorrupt = errors.New("metadata is corrupt")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// strict refuses non-zero padding bits, so one metadata string has one
// meaning and one spelling.
var strict = base64.RawURLEncoding.Strict()

// Normalize returns the union of ranges clipped to offsets >= from, sorted,
// with overlapping and adjacent ranges merged. Ranges with Last < First are
// dropped. It reuses ranges' storage.
func Normalize(ranges []Range, from int64) []Range {
	out := ranges[:0]
	for _, r := range ranges {
		r.First = max(r.First, from)
		if r.Last >= r.First {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Range) int {
		switch {
		case a.First < b.First:
			return -1
		case a.First > b.First:
			return 1
		}
		return 0
	})
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && r.First <= merged[n-1].Last+1 {
			merged[n-1].Last = max(merged[n-1].Last, r.Last)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// Encode returns the metadata for committed with as many of ranges as fit in
// budget bytes, nearest first, and how many it holds. ranges must be
// normalized (see Normalize) and start at or after committed; committed must
// be >= 0. With nothing that fits, it returns "" and 0.
func Encode(committed int64, ranges []Range, budget int) (string, int, error) {
	if committed < 0 {
		return "", 0, fmt.Errorf("committed offset %d is negative", committed)
	}
	next := committed
	for i, r := range ranges {
		if r.First < next || r.Last < r.First {
			return "", 0, fmt.Errorf("range %d (%d-%d) is not sorted, disjoint and at or after offset %d", i, r.First, r.Last, next)
		}
		if r.Last == math.MaxInt64 {
			return "", 0, fmt.Errorf("range %d ends at the largest offset", i)
		}
		next = r.Last + 2
	}
	// Body without the count: the count's size depends on how many fit.
	body := make([]byte, 0, 64)
	body = binary.AppendUvarint(body, uint64(committed))
	base := len(body)
	var pairs []byte
	n := 0
	next = committed
	for _, r := range ranges {
		p := binary.AppendUvarint(pairs, uint64(r.First-next))
		p = binary.AppendUvarint(p, uint64(r.Last-r.First))
		if encodedLen(base+uvarintLen(uint64(n+1))+len(p)) > budget {
			break
		}
		pairs, n, next = p, n+1, r.Last+2
	}
	if n == 0 {
		return "", 0, nil
	}
	body = binary.AppendUvarint(body, uint64(n))
	body = append(body, pairs...)
	raw := make([]byte, crcLen, crcLen+len(body))
	binary.BigEndian.PutUint32(raw, crc32.Checksum(body, castagnoli))
	raw = append(raw, body...)
	return magic + string(rune(version)) + base64.RawURLEncoding.EncodeToString(raw), n, nil
}

// encodedLen is the metadata length for a body of n bytes.
func encodedLen(n int) int { return header + base64.RawURLEncoding.EncodedLen(crcLen+n) }

func uvarintLen(v uint64) int { return len(binary.AppendUvarint(nil, v)) }

// Decode returns the finished ranges that meta holds for the committed
// offset committed. Empty metadata is ErrForeign, like any other tool's.
func Decode(meta string, committed int64) ([]Range, error) {
	if len(meta) < header || meta[:len(magic)] != magic {
		return nil, ErrForeign
	}
	if meta[len(magic)] != version {
		return nil, fmt.Errorf("%w: %q", ErrVersion, meta[len(magic)])
	}
	// encoding/base64 skips '\r' and '\n' even in strict mode; a text
	// holding them is not one Encode wrote.
	if strings.ContainsAny(meta[header:], "\r\n") {
		return nil, ErrCorrupt
	}
	raw, err := strict.DecodeString(meta[header:])
	if err != nil || len(raw) < crcLen {
		return nil, ErrCorrupt
	}
	body := raw[crcLen:]
	if binary.BigEndian.Uint32(raw) != crc32.Checksum(body, castagnoli) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	rd := reader{b: body}
	base := rd.uvarint()
	n := rd.uvarint()
	if rd.bad || base > math.MaxInt64 {
		return nil, ErrCorrupt
	}
	if int64(base) != committed {
		return nil, fmt.Errorf("%w: written for %d, committed is %d", ErrStale, base, committed)
	}
	// Each range takes at least two bytes: a larger count is a lie.
	if n > uint64(len(rd.b))/2 {
		return nil, ErrCorrupt
	}
	out := make([]Range, 0, n)
	next := uint64(base)
	for range n {
		gap, length := rd.uvarint(), rd.uvarint()
		first := next + gap
		last := first + length
		if rd.bad || first < next || last < first || last >= math.MaxInt64 {
			return nil, ErrCorrupt
		}
		out = append(out, Range{First: int64(first), Last: int64(last)})
		next = last + 2
	}
	if len(rd.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(rd.b))
	}
	return out, nil
}

type reader struct {
	b   []byte
	bad bool
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || n != uvarintLen(v) { // overlong encodings are not ours
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}
