// Package batch accumulates the records of one delivery stream into batches
// that respect Firehose's PutRecordBatch limits.
package batch

import (
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/firehose-worker/firehose-worker/internal/scrub"
)

// Part is what a record reports to when it is finished: acknowledged by
// Firehose, or handed to the dead-letter topic. checkpoint.Message fits.
type Part interface{ Done() }

// withdrawable is a Part that can be given up before it is sent (see
// Record.Withdrawn). checkpoint.Message is one; a Part that is not never is.
type withdrawable interface{ Withdrawn() bool }

// Withdrawn reports whether r's message was given up by this worker (its
// partition was released with it unfinished), so its next owner sends it:
// a record not yet in a call should then be finished with Done and not
// sent, which would only make a second copy.
func (r Record) Withdrawn() bool {
	w, ok := r.Part.(withdrawable)
	return ok && w.Withdrawn()
}

// Record is one Firehose record and the message part it belongs to.
type Record struct {
	// Data is the record without its final newline: Firehose receives Data
	// followed by one '\n', added when the request is encoded, so a Kafka
	// value that is already compact JSON is sent from its own buffer. It may
	// be shared by the records of every stream a message goes to, so it is
	// never modified.
	Data []byte
	Part Part
	// Origin lets a record that Firehose rejects for good be dead-lettered
	// with its original Kafka message. It may be nil.
	Origin any
	// Trace is the W3C trace context the Kafka message carried, if any;
	// delivery spans link to it.
	Trace trace.SpanContext
}

// Size is the bytes of r as Firehose counts them: Data and its newline.
func (r Record) Size() int { return len(r.Data) + 1 }

// BillingUnit is the step in which Firehose bills ingested data: every record
// is rounded up to the next 5 KB.
// https://aws.amazon.com/firehose/pricing/
const BillingUnit = 5120

// BilledUnits is what r costs: ceil(Size / BillingUnit). A packed record is
// one record to Firehose, billed on its whole size.
func (r Record) BilledUnits() int { return (r.Size() + BillingUnit - 1) / BillingUnit }

// Batch is a set of records for one PutRecordBatch call.
type Batch struct {
	Records []Record
	Bytes   int // the sum of the records' Size
}

// Limits bound a batch. Zero values are not valid.
type Limits struct {
	MaxRecords int
	MaxBytes   int
	// Linger is how long the first record of a batch waits for others.
	Linger time.Duration
	// Aggregate packs consecutive records into one Firehose record of at most
	// MaxRecordBytes. Records are newline-terminated, so destinations that
	// split on newlines read back the same events.
	Aggregate      bool
	MaxRecordBytes int
}

// Packed is a Firehose record made of several records. It is the Part and
// the Origin of that record: finishing it finishes every record in it, and a
// rejected packed record is dead-lettered as the records it holds. The
// accumulator that packed it reuses it, and the record's Data, once its
// batch is recycled.
type Packed struct {
	Records []Record
	owner   *Accumulator
}

// Withdrawn reports whether every record packed in p is withdrawn: only
// then may the packed record go unsent.
func (p *Packed) Withdrawn() bool {
	for _, r := range p.Records {
		if !r.Withdrawn() {
			return false
		}
	}
	return len(p.Records) > 0
}

// Done finishes every record in the packed record.
func (p *Packed) Done() {
	for _, r := range p.Records {
		r.Part.Done()
	}
}

// Accumulator collects the records of one stream. Records are added from many
// goroutines; a batch is handed to the flush function given to New when it
// is full, when its linger time passes, or on Flush. Batches never exceed the
// limits; a record larger than MaxBytes must be rejected before Add.
//
// With HoldWhile, a batch that is not full is held while the stream is busy:
// its linger passing (or Flush) makes it due, it keeps taking records, and it
// is handed over on the first Room call that finds the stream not busy, or
// once it is full.
type Accumulator struct {
	limits Limits
	flush  func(*Batch)
	busy   func() bool // see HoldWhile; nil never holds

	mu    sync.Mutex
	cur   *Batch
	seq   uint64 // identifies cur, so a stale linger timer does nothing
	due   bool   // cur's linger passed, or Flush came, while busy
	timer *time.Timer

	// spare holds batches handed back by Recycle. A batch's record slice
	// is MaxRecords long (52 KB at 500) and holds pointers: allocating one
	// per batch was 40 MB/s of memory for the collector to clear and scan
	// on a backlog, most of it for small batches of quiet streams.
	spare chan *Batch
	// packs holds packed records of recycled batches, each with the buffer
	// its Data grew into. A packed record is a copy of its events of up to
	// MaxRecordBytes; making each anew (starting small, then doubling) was
	// a fifth of the worker's CPU on an aggregated backlog, in copying,
	// clearing and collecting those buffers.
	packs chan packedBuf
	// packSize is the size a packed record's buffer starts at (0: not
	// known yet): that of the largest packed record in the last recycled
	// batch, within [min(256 KiB, MaxRecordBytes), MaxRecordBytes]. A busy
	// stream fills its packed records to MaxRecordBytes, and growing each
	// from 256 KiB there copied it about twice over; a quiet one, or one
	// that has become quiet, keeps small buffers.
	packSize atomic.Int64
}

// packedBuf is a Packed ready for reuse and the buffer of its last Data.
type packedBuf struct {
	pk   *Packed
	data []byte
}

// New returns an accumulator that hands batches to flush. flush may block (it
// is how backpressure reaches the producers) and is called without any lock
// held, possibly from several goroutines at once.
func New(limits Limits, flush func(*Batch)) *Accumulator {
	a := &Accumulator{limits: limits, flush: flush, spare: make(chan *Batch, 8)}
	if limits.Aggregate {
		// Enough for a batch of full packed records and one more being
		// filled: the buffers a stream at full speed reuses round after
		// round (twice as many measured the same). More would only hold
		// memory: at most this many MaxRecordBytes buffers per aggregating
		// stream stay allocated while it is idle.
		a.packs = make(chan packedBuf, limits.MaxBytes/max(limits.MaxRecordBytes, 1)+2)
	}
	return a
}

// HoldWhile makes the accumulator hold a batch that is due but not full for
// as long as busy reports true, so that the batch grows toward the limits
// instead of queueing small behind calls that are slow to come back. busy is
// called with the accumulator's lock held and must not call back into it;
// whatever makes it turn false must then call Room. Set it before the first
// Add.
func (a *Accumulator) HoldWhile(busy func() bool) { a.busy = busy }

// Room hands over the held batch, if one is due and the stream is not busy.
func (a *Accumulator) Room() {
	a.mu.Lock()
	var b *Batch
	if a.due && !a.busy() {
		b = a.takeLocked()
	}
	a.mu.Unlock()
	if b != nil {
		a.flush(b)
	}
}

// Recycle hands back a batch which nothing refers to any more (its records
// are finished, or never will be: its delivery was cut off), for a later
// batch to reuse, with its packed records.
func (a *Accumulator) Recycle(b *Batch) {
	if a.packs != nil {
		// The start size first: it decides which buffers the pool keeps.
		largest := 0
		for _, r := range b.Records {
			if a.packed(r) != nil {
				largest = max(largest, r.Size())
			}
		}
		if largest > 0 {
			a.packSize.Store(int64(min(max(largest, a.minPackSize()), a.limits.MaxRecordBytes)))
		}
		for _, r := range b.Records {
			if pk := a.packed(r); pk != nil {
				a.reusePacked(pk, r.Data)
			}
		}
	}
	clear(b.Records) // drop the records' data and parts for the collector
	b.Records, b.Bytes = b.Records[:0], 0
	select {
	case a.spare <- b:
	default:
	}
}

func (a *Accumulator) newBatch() *Batch {
	select {
	case b := <-a.spare:
		return b
	default:
		return &Batch{Records: make([]Record, 0, a.limits.MaxRecords)}
	}
}

// Add appends r. When r does not fit, the current batch is handed over first;
// when r fills the batch, it is handed over at once.
func (a *Accumulator) Add(r Record) {
	var full, filled *Batch
	a.mu.Lock()
	if a.limits.Aggregate && a.cur != nil && a.packInto(r) {
		if a.cur.Bytes >= a.limits.MaxBytes {
			filled = a.takeLocked()
		}
		a.mu.Unlock()
		if filled != nil {
			a.flush(filled)
		}
		return
	}
	if a.limits.Aggregate {
		r = a.pack(r)
	}
	if a.cur != nil && a.cur.Bytes+r.Size() > a.limits.MaxBytes {
		full = a.takeLocked()
	}
	if a.cur == nil {
		a.cur = a.newBatch()
		a.seq++
		seq := a.seq
		a.timer = time.AfterFunc(a.limits.Linger, func() { a.expire(seq) })
	}
	a.cur.Records = append(a.cur.Records, r)
	a.cur.Bytes += r.Size()
	if len(a.cur.Records) >= a.limits.MaxRecords || a.cur.Bytes >= a.limits.MaxBytes {
		filled = a.takeLocked()
	}
	a.mu.Unlock()
	if full != nil {
		a.flush(full)
	}
	if filled != nil {
		a.flush(filled)
	}
}

// Flush hands over the current batch now, if there is one; one that is held
// (see HoldWhile) becomes due instead.
func (a *Accumulator) Flush() {
	a.mu.Lock()
	b := a.takeDueLocked()
	a.mu.Unlock()
	if b != nil {
		a.flush(b)
	}
}

// Buffered returns the number of records waiting in the current batch.
func (a *Accumulator) Buffered() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur == nil {
		return 0
	}
	return len(a.cur.Records)
}

// packInto appends r to the open packed record, the last of the current
// batch, if it fits there and in the batch.
func (a *Accumulator) packInto(r Record) bool {
	last := &a.cur.Records[len(a.cur.Records)-1]
	pk, ok := last.Part.(*Packed)
	if !ok || last.Size()+r.Size() > a.limits.MaxRecordBytes || a.cur.Bytes+r.Size() > a.limits.MaxBytes {
		return false
	}
	// The packed record's events are joined by newlines; its last newline,
	// like any record's, is added when it is encoded.
	last.Data = append(append(last.Data, '\n'), r.Data...)
	pk.Records = append(pk.Records, r)
	a.cur.Bytes += r.Size()
	return true
}

// pack starts a packed record holding r. Its buffer is its own, since r.Data
// may be shared with other streams: a recycled one when there is one.
func (a *Accumulator) pack(r Record) Record {
	var pb packedBuf
	select {
	case pb = <-a.packs:
	default:
		pb = packedBuf{pk: &Packed{owner: a}, data: make([]byte, 0, max(r.Size(), a.startSize()))}
	}
	pb.pk.Records = append(pb.pk.Records, r)
	data := append(pb.data, r.Data...)
	return Record{Data: data, Part: pb.pk, Origin: pb.pk, Trace: r.Trace}
}

// packed returns r's packed record if this accumulator made it, else nil.
func (a *Accumulator) packed(r Record) *Packed {
	if pk, ok := r.Part.(*Packed); ok && pk.owner == a {
		return pk
	}
	return nil
}

// minPackSize is the smallest buffer a packed record starts with.
func (a *Accumulator) minPackSize() int { return min(256<<10, a.limits.MaxRecordBytes) }

// startSize is the capacity a new packed record's buffer gets.
func (a *Accumulator) startSize() int {
	if n := int(a.packSize.Load()); n > 0 {
		return n
	}
	return a.minPackSize()
}

// reusePacked keeps pk and data, the Data of its record, for a later pack,
// if there is room and the buffer has the size packed records start at
// now: a smaller one would grow again, a larger one would hold memory a
// stream gone quiet does not need (and none is kept above MaxRecordBytes,
// so an idle stream holds at most cap(packs) of those). Nothing may refer
// to either any more.
func (a *Accumulator) reusePacked(pk *Packed, data []byte) {
	clear(pk.Records) // drop the events' data and parts for the collector
	pk.Records = pk.Records[:0]
	data = data[:cap(data)]
	if want := a.startSize(); len(data) < want || len(data) > min(2*want, a.limits.MaxRecordBytes) {
		return
	}
	scrub.Released(data) // race builds: a reader after recycling sees garbage
	select {
	case a.packs <- packedBuf{pk: pk, data: data[:0]}:
	default:
	}
}

func (a *Accumulator) expire(seq uint64) {
	a.mu.Lock()
	var b *Batch
	if a.seq == seq {
		b = a.takeDueLocked()
	}
	a.mu.Unlock()
	if b != nil {
		a.flush(b)
	}
}

// takeDueLocked takes the current batch, which is due, unless the stream
// is busy: then it is held, due.
func (a *Accumulator) takeDueLocked() *Batch {
	if a.cur != nil && a.busy != nil && a.busy() {
		a.due = true
		return nil
	}
	return a.takeLocked()
}

func (a *Accumulator) takeLocked() *Batch {
	b := a.cur
	if b == nil {
		return nil
	}
	a.cur, a.due = nil, false
	a.seq++
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	if a.packs != nil && len(b.Records) > 0 {
		a.trimLast(&b.Records[len(b.Records)-1])
	}
	return b
}

// trimLast moves the last packed record of a batch being handed over into
// a buffer of its own size when it fills less than a quarter of the one it
// started in, and gives that one back for reuse. Only the last can be
// short (a packed record is closed when the next event does not fit), and
// a batch may wait long for its call: a stream slowed by throttling while
// its start size is large would otherwise pin a MaxRecordBytes buffer per
// small batch waiting out a backoff. So waiting batches hold about the
// bytes they carry.
func (a *Accumulator) trimLast(r *Record) {
	if a.packed(*r) == nil || cap(r.Data) <= a.minPackSize() || len(r.Data) >= cap(r.Data)/4 {
		return
	}
	big := r.Data
	r.Data = append(make([]byte, 0, len(big)), big...)
	a.reusePacked(&Packed{owner: a}, big)
}
