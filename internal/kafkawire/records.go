package kafkawire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/segmentio/kafka-go/compress"
)

// batchHeaderSize is a v2 record batch's header: base offset and length,
// then partition leader epoch, magic, CRC, attributes, last offset delta,
// base and max timestamps, producer id and epoch, base sequence and the
// record count.
const batchHeaderSize = 8 + 4 + 4 + 1 + 4 + 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4

// crcStart is where a batch's CRC-32C coverage starts: the attributes.
const crcStart = 8 + 4 + 4 + 1 + 4

// maxDecompressed bounds what one compressed batch may expand to, so a
// corrupt or hostile batch cannot take unbounded memory. Kafka's own limit
// on a batch is its compressed size (message.max.bytes, 1 MiB by default).
const maxDecompressed = 256 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Batch describes the record batch a Reader is in.
type Batch struct {
	BaseOffset int64
	// LastOffset is the offset of the batch's last record as written, which
	// stays even when compaction removed that record: reading resumes after
	// it.
	LastOffset int64
	// Control batches hold transaction markers, not messages.
	Control     bool
	Compression compress.Compression
	Records     int
}

// Record is one record of a batch. Key and Value are nil when null and
// otherwise refer into the response buffer or, in a compressed batch, the
// Reader's scratch buffer: copy what must outlive the batch.
type Record struct {
	Offset     int64
	TimeMillis int64 // Unix milliseconds
	Key, Value []byte
	headers    []byte
	nHeaders   int
}

// Headers returns how many headers the record has.
func (r *Record) Headers() int { return r.nHeaders }

// EachHeader calls fn with each header's key and value (nil when null), in
// order. They refer into the same buffer as Key and Value.
func (r *Record) EachHeader(fn func(key, value []byte)) {
	d := varDecoder{b: r.headers}
	for range r.nHeaders {
		k := d.bytes()
		v := d.bytes()
		if d.err != nil {
			return // checked when the record was read
		}
		fn(k, v)
	}
}

// Reader reads the record batches of one partition's record set in order.
// It keeps a scratch buffer for decompression between uses; reuse one
// Reader rather than making one per record set.
type Reader struct {
	rest    []byte // what follows the current batch
	batch   Batch
	timeLog bool  // LogAppendTime: every record has maxTime
	base    int64 // base timestamp
	maxTime int64
	recs    varDecoder // the current batch's records
	left    int        // records left in the current batch
	scratch []byte
	zr      bytes.Reader
}

// Reset starts reading records, a partition's record set.
func (r *Reader) Reset(records []byte) {
	r.rest, r.left, r.recs = records, 0, varDecoder{}
}

// NextBatch moves to the next complete batch of the record set and reports
// whether there is one. A batch cut short at the end of the set (the
// response's size limit) ends it without an error. The records of the
// previous batch may no longer be read.
func (r *Reader) NextBatch() (bool, error) {
	b := r.rest
	if len(b) < 12 {
		r.rest = nil
		return false, nil
	}
	base := int64(binary.BigEndian.Uint64(b))
	size := int(int32(binary.BigEndian.Uint32(b[8:])))
	if size < batchHeaderSize-12 {
		return false, fmt.Errorf("%w: record batch at offset %d claims %d bytes", ErrMalformed, base, size)
	}
	if len(b)-12 < size {
		r.rest = nil
		return false, nil // cut short by the response's size limit
	}
	whole := b[:12+size]
	r.rest = b[12+size:]
	if magic := whole[16]; magic != 2 {
		return false, fmt.Errorf("record batch at offset %d has message format v%d; only v2 (Kafka 0.11 and later) is read", base, magic)
	}
	if want, got := binary.BigEndian.Uint32(whole[17:]), crc32.Checksum(whole[crcStart:], castagnoli); want != got {
		return false, fmt.Errorf("%w: record batch at offset %d fails its CRC (%08x, computed %08x)", ErrMalformed, base, want, got)
	}
	attrs := int16(binary.BigEndian.Uint16(whole[21:]))
	lastDelta := int64(int32(binary.BigEndian.Uint32(whole[23:])))
	r.base = int64(binary.BigEndian.Uint64(whole[27:]))
	r.maxTime = int64(binary.BigEndian.Uint64(whole[35:]))
	count := int(int32(binary.BigEndian.Uint32(whole[57:])))
	r.timeLog = attrs&0x08 != 0
	r.batch = Batch{
		BaseOffset:  base,
		LastOffset:  base + lastDelta,
		Control:     attrs&0x20 != 0,
		Compression: compress.Compression(attrs & 0x07),
		Records:     count,
	}
	body := whole[batchHeaderSize:]
	if r.batch.Compression != compress.None {
		var err error
		if body, err = r.decompress(body); err != nil {
			return false, fmt.Errorf("decompressing the %s record batch at offset %d: %w", r.batch.Compression, base, err)
		}
	}
	if count < 0 || count > len(body) {
		return false, fmt.Errorf("%w: record batch at offset %d claims %d records in %d bytes", ErrMalformed, base, count, len(body))
	}
	r.recs, r.left = varDecoder{b: body}, count
	return true, nil
}

// Batch is the batch NextBatch moved to.
func (r *Reader) Batch() *Batch { return &r.batch }

func (r *Reader) decompress(b []byte) ([]byte, error) {
	codec := r.batch.Compression.Codec()
	if codec == nil {
		return nil, fmt.Errorf("unknown compression codec %d", r.batch.Compression)
	}
	r.zr.Reset(b)
	zr := codec.NewReader(&r.zr)
	defer zr.Close()
	out := r.scratch[:0]
	for {
		if len(out) == cap(out) {
			if len(out) >= maxDecompressed {
				return nil, fmt.Errorf("expands beyond %d bytes", maxDecompressed)
			}
			out = append(out, 0)[:len(out)]
		}
		n, err := zr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	r.scratch = out
	return out, nil
}

// NextRecord reads the current batch's next record into rec and reports
// whether there was one.
func (r *Reader) NextRecord(rec *Record) (bool, error) {
	if r.left == 0 {
		return false, nil
	}
	r.left--
	d := &r.recs
	n := int(d.varint())
	if d.err != nil || n < 0 || n > len(d.b)-d.i {
		return false, r.recordErr()
	}
	end := d.i + n
	rd := varDecoder{b: d.b[:end], i: d.i}
	d.i = end
	rd.skip(1) // attributes: unused in v2
	tsDelta := rd.varint()
	offDelta := rd.varint()
	rec.Key = rd.bytes()
	rec.Value = rd.bytes()
	nh := int(rd.varint())
	start := rd.i
	for range max(nh, 0) {
		rd.bytes()
		rd.bytes()
	}
	if rd.err != nil || nh < 0 {
		return false, r.recordErr()
	}
	rec.headers, rec.nHeaders = rd.b[start:rd.i:rd.i], nh
	rec.Offset = r.batch.BaseOffset + offDelta
	rec.TimeMillis = r.base + tsDelta
	if r.timeLog {
		rec.TimeMillis = r.maxTime
	}
	return true, nil
}

func (r *Reader) recordErr() error {
	r.left = 0
	return fmt.Errorf("%w: a record of the batch at offset %d does not decode", ErrMalformed, r.batch.BaseOffset)
}

// varDecoder reads the zig-zag varints of records. The first error sticks.
type varDecoder struct {
	b   []byte
	i   int
	err error
}

func (d *varDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.i:])
	if n <= 0 {
		d.err = ErrMalformed
		return 0
	}
	d.i += n
	return v
}

func (d *varDecoder) skip(n int) {
	if d.err == nil && len(d.b)-d.i < n {
		d.err = ErrMalformed
	}
	if d.err == nil {
		d.i += n
	}
}

// bytes reads varint-length bytes; length -1 is null (nil).
func (d *varDecoder) bytes() []byte {
	n := d.varint()
	if d.err != nil || n < 0 {
		return nil
	}
	if n > int64(len(d.b)-d.i) {
		d.err = ErrMalformed
		return nil
	}
	s := d.b[d.i : d.i+int(n) : d.i+int(n)]
	d.i += int(n)
	return s
}
