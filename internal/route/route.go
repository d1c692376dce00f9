// Package route maps a Segment message to the delivery streams of its source,
// following the mapping rows "event -> stream" of Segment's destination.
//
// A track matches rows whose event equals its event name; every message
// matches rows equal to its type; "*" matches every message. The left side
// compares case-insensitively; stream names are used exactly as written.
package route

import (
	"strings"
	"unicode/utf8"
)

// Row is one mapping row.
type Row struct {
	Event  string
	Stream string
}

// Wildcard matches every message.
const Wildcard = "*"

// Table routes the messages of one source. It is immutable and safe for
// concurrent use.
type Table struct {
	firstMatch bool
	streams    []string
	byName     map[string][]int // lower-cased track event name -> stream indexes
	byType     map[string][]int // lower-cased type -> stream indexes
	all        []int
}

// New builds a table from rows. With firstMatch, a message goes only to the
// streams of its most specific matching rows (event name, then type, then
// "*"); otherwise to every distinct stream any row matches.
//
// A row's event is compared with a track's event name and with every
// message's type, so a row "page" catches page calls and also a track named
// "page"; that is Segment's behaviour and is kept.
func New(rows []Row, firstMatch bool) *Table {
	t := &Table{firstMatch: firstMatch, byName: map[string][]int{}, byType: map[string][]int{}}
	index := map[string]int{}
	for _, r := range rows {
		i, ok := index[r.Stream]
		if !ok {
			i = len(t.streams)
			index[r.Stream] = i
			t.streams = append(t.streams, r.Stream)
		}
		key := strings.TrimSpace(r.Event)
		if key == Wildcard {
			t.all = appendUnique(t.all, i)
			continue
		}
		key = strings.ToLower(key)
		t.byName[key] = appendUnique(t.byName[key], i)
		t.byType[key] = appendUnique(t.byType[key], i)
	}
	return t
}

// MatchesAll reports that a "*" row routes every message somewhere.
func (t *Table) MatchesAll() bool { return len(t.all) > 0 }

// Streams lists the distinct stream names of the table; Route returns indexes
// into it.
func (t *Table) Streams() []string { return t.streams }

// Route appends to dst the indexes of the streams msg goes to, each once, and
// returns it. isTrack says the message's type is track, so event names it.
// It does not allocate when dst has room and the names are short ASCII.
func (t *Table) Route(dst []int, typ, event []byte, isTrack bool) []int {
	var buf [64]byte
	start := len(dst)
	matched := func() bool { return t.firstMatch && len(dst) > start }
	if isTrack && len(event) > 0 {
		if ids, ok := t.byName[string(lower(buf[:0], event))]; ok {
			dst = appendAll(dst, ids)
		}
	}
	if !matched() {
		if ids, ok := t.byType[string(lower(buf[:0], typ))]; ok {
			dst = appendAll(dst, ids)
		}
	}
	if !matched() {
		dst = appendAll(dst, t.all)
	}
	return dst
}

// IsTrack reports whether typ names a track call.
func IsTrack(typ []byte) bool {
	return len(typ) == 5 && strings.EqualFold(string(typ), "track")
}

// lower lower-cases s into buf the way strings.ToLower does, without
// allocating for ASCII input.
func lower(buf, s []byte) []byte {
	for _, c := range s {
		if c >= utf8.RuneSelf {
			return []byte(strings.ToLower(string(s)))
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

func appendUnique(s []int, v int) []int {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

func appendAll(dst, ids []int) []int {
	for _, id := range ids {
		dst = appendUnique(dst, id)
	}
	return dst
}
