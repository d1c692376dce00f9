// Package kafkawire decodes Kafka Fetch responses (version 11) and the
// record batches (message format v2) they carry straight from the bytes of
// one response, without kafka-go's reflection decoder and page buffers.
//
// What callers may rely on: a decoded response refers into the buffer it was
// decoded from (partition record sets, keys and values of uncompressed
// batches), so that buffer must outlive every use of what was decoded; keys
// and values of compressed batches refer into a Batches' scratch buffer,
// valid until its next batch. Nothing is copied that the caller did not ask
// for. Every length is checked against the buffer: a malformed response is
// an error, never a panic or a read beyond it. Record batches are checked
// against their CRC-32C, as Kafka's own consumer does by default.
package kafkawire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// FetchVersion is the Fetch request and response version this package
// speaks: the last one before flexible versions (KIP-482), served by every
// Kafka since 2.3 and by Kafka 4.
const FetchVersion = 11

// ErrMalformed is wrapped by every error about bytes that do not decode.
var ErrMalformed = errors.New("malformed Kafka response")

// FetchResponse is a decoded Fetch v11 response. Decode into the same value
// again to reuse its slices.
type FetchResponse struct {
	ThrottleMillis int32
	ErrorCode      int16
	Topics         []FetchTopic
}

// FetchTopic is one topic of a response.
type FetchTopic struct {
	// Name refers into the response buffer.
	Name       []byte
	Partitions []FetchPartition
}

// FetchPartition is one partition of a response.
type FetchPartition struct {
	Partition        int32
	ErrorCode        int16
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	// Records is the partition's record batches as the broker sent them,
	// referring into the response buffer. The last batch may be cut short
	// by the response's size limits; Batches stops before it.
	Records []byte
}

// DecodeFetch decodes body, a Fetch v11 response after its size and
// correlation id, into r.
func (r *FetchResponse) DecodeFetch(body []byte) error {
	d := decoder{b: body}
	r.ThrottleMillis = d.int32()
	r.ErrorCode = d.int16()
	_ = d.int32() // session id: this package's requests use no fetch session
	n := d.count(2 + 4)
	r.Topics = grow(r.Topics, n)
	for i := range r.Topics {
		t := &r.Topics[i]
		t.Name = d.str()
		np := d.count(4 + 2 + 8 + 8 + 8 + 4 + 4 + 4)
		t.Partitions = grow(t.Partitions, np)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			p.Partition = d.int32()
			p.ErrorCode = d.int16()
			p.HighWatermark = d.int64()
			p.LastStableOffset = d.int64()
			p.LogStartOffset = d.int64()
			// Aborted transactions matter only to read_committed
			// consumers; this package's requests are read_uncommitted.
			if na := d.count(16); na > 0 {
				d.skip(na * 16)
			}
			_ = d.int32() // preferred read replica: fetching from followers is not used
			p.Records = d.bytes()
		}
	}
	if d.err != nil {
		return d.err
	}
	if d.i != len(d.b) {
		return fmt.Errorf("%w: %d bytes after the fetch response", ErrMalformed, len(d.b)-d.i)
	}
	return nil
}

// grow returns s with length n, reusing its array when it is large enough
// and keeping the inner slices of the elements it reuses.
func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return append(s[:cap(s)], make([]T, n-cap(s))...)
}

// decoder reads big-endian Kafka primitives from b. The first error sticks:
// every later read returns zero values, so callers check err once.
type decoder struct {
	b   []byte
	i   int
	err error
}

func (d *decoder) need(n int) bool {
	if d.err != nil {
		return false
	}
	if n < 0 || len(d.b)-d.i < n {
		d.err = fmt.Errorf("%w: %d bytes needed at byte %d of %d", ErrMalformed, n, d.i, len(d.b))
		return false
	}
	return true
}

func (d *decoder) int16() int16 {
	if !d.need(2) {
		return 0
	}
	v := int16(binary.BigEndian.Uint16(d.b[d.i:]))
	d.i += 2
	return v
}

func (d *decoder) int32() int32 {
	if !d.need(4) {
		return 0
	}
	v := int32(binary.BigEndian.Uint32(d.b[d.i:]))
	d.i += 4
	return v
}

func (d *decoder) int64() int64 {
	if !d.need(8) {
		return 0
	}
	v := int64(binary.BigEndian.Uint64(d.b[d.i:]))
	d.i += 8
	return v
}

func (d *decoder) skip(n int) {
	if d.need(n) {
		d.i += n
	}
}

// count reads an array length, -1 (null) as 0, and checks that that many
// elements of at least min bytes each can fit in what is left, so a corrupt
// count cannot make the caller allocate without bound.
func (d *decoder) count(min int) int {
	n := int(d.int32())
	if n < 0 {
		return 0
	}
	if d.err == nil && n > (len(d.b)-d.i)/min {
		d.err = fmt.Errorf("%w: %d elements of %d bytes do not fit in %d at byte %d", ErrMalformed, n, min, len(d.b)-d.i, d.i)
		return 0
	}
	return n
}

// str reads an int16-length string.
func (d *decoder) str() []byte {
	n := int(d.int16())
	if n < 0 || !d.need(n) {
		return nil
	}
	s := d.b[d.i : d.i+n : d.i+n]
	d.i += n
	return s
}

// bytes reads int32-length bytes; null is nil.
func (d *decoder) bytes() []byte {
	n := int(d.int32())
	if n < 0 || !d.need(n) {
		return nil
	}
	s := d.b[d.i : d.i+n : d.i+n]
	d.i += n
	return s
}
