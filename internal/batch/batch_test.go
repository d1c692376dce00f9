package batch

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/scrub"
)

type collector struct {
	mu      sync.Mutex
	batches []*Batch
	ch      chan *Batch
}

func newCollector() *collector { return &collector{ch: make(chan *Batch, 1000)} }

func (c *collector) flush(b *Batch) {
	c.mu.Lock()
	c.batches = append(c.batches, b)
	c.mu.Unlock()
	c.ch <- b
}

// rec returns a record of Size n: n-1 bytes of data and the newline the
// request encoder adds.
func rec(n int) Record { return Record{Data: bytes.Repeat([]byte("x"), n-1)} }

func TestSplitsAtRecordCount(t *testing.T) {
	t.Parallel()
	c := newCollector()
	a := New(Limits{MaxRecords: 500, MaxBytes: 4 << 20, Linger: time.Hour}, c.flush)
	for range 1001 {
		a.Add(rec(10))
	}
	if len(c.batches) != 2 || len(c.batches[0].Records) != 500 || len(c.batches[1].Records) != 500 {
		t.Fatalf("want two full batches of 500, got %d batches", len(c.batches))
	}
	if a.Buffered() != 1 {
		t.Errorf("buffered = %d, want 1", a.Buffered())
	}
	a.Flush()
	if len(c.batches) != 3 || len(c.batches[2].Records) != 1 {
		t.Errorf("Flush did not hand over the last record")
	}
}

func TestSplitsAtBytes(t *testing.T) {
	t.Parallel()
	const maxBytes = 4 << 20
	const recSize = 1000 * 1024 // the largest record Firehose takes
	c := newCollector()
	a := New(Limits{MaxRecords: 500, MaxBytes: maxBytes, Linger: time.Hour}, c.flush)
	for range 9 {
		a.Add(rec(recSize))
	}
	a.Flush()
	total := 0
	for _, b := range c.batches {
		sum := 0
		for _, r := range b.Records {
			sum += r.Size()
		}
		if sum != b.Bytes || b.Bytes > maxBytes {
			t.Errorf("batch of %d bytes (counted %d) breaks the 4 MiB limit", sum, b.Bytes)
		}
		total += len(b.Records)
	}
	// 4 records of 1,000 KiB fit in 4 MiB (4,096,000 <= 4,194,304); a 5th does not.
	if len(c.batches) != 3 || len(c.batches[0].Records) != 4 || total != 9 {
		t.Errorf("got %d batches, first of %d records, %d total; want 3, 4, 9", len(c.batches), len(c.batches[0].Records), total)
	}
}

func TestExactlyFullByBytesIsHandedOver(t *testing.T) {
	t.Parallel()
	c := newCollector()
	a := New(Limits{MaxRecords: 500, MaxBytes: 100, Linger: time.Hour}, c.flush)
	a.Add(rec(60))
	a.Add(rec(40))
	if len(c.batches) != 1 || c.batches[0].Bytes != 100 {
		t.Fatalf("a batch filled to exactly MaxBytes should go at once")
	}
}

func TestLingerFlushes(t *testing.T) {
	t.Parallel()
	c := newCollector()
	a := New(Limits{MaxRecords: 500, MaxBytes: 4 << 20, Linger: 10 * time.Millisecond}, c.flush)
	a.Add(rec(1))
	a.Add(rec(1))
	select {
	case b := <-c.ch:
		if len(b.Records) != 2 {
			t.Errorf("lingered batch has %d records, want 2", len(b.Records))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("linger never flushed the batch")
	}
}

func TestConcurrentAddsLoseNothing(t *testing.T) {
	t.Parallel()
	c := newCollector()
	a := New(Limits{MaxRecords: 7, MaxBytes: 1000, Linger: time.Hour}, func(b *Batch) { c.mu.Lock(); c.batches = append(c.batches, b); c.mu.Unlock() })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				a.Add(rec(13))
			}
		})
	}
	wg.Wait()
	a.Flush()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, b := range c.batches {
		if len(b.Records) > 7 || b.Bytes > 1000 {
			t.Fatalf("batch over limits: %d records %d bytes", len(b.Records), b.Bytes)
		}
		n += len(b.Records)
	}
	if n != 8000 {
		t.Errorf("%d records handed over, want 8000", n)
	}
}

type countPart struct{ n int }

func (c *countPart) Done() { c.n++ }

func TestAggregatePacksUpToTheRecordLimit(t *testing.T) {
	t.Parallel()
	const maxRecord = 1000 * 1024
	c := newCollector()
	a := New(Limits{MaxRecords: 500, MaxBytes: 4 << 20, Linger: time.Hour, Aggregate: true, MaxRecordBytes: maxRecord}, c.flush)
	parts := make([]*countPart, 0)
	add := func(n int, fill byte) {
		p := &countPart{}
		parts = append(parts, p)
		a.Add(Record{Data: bytes.Repeat([]byte{fill}, n-1), Part: p})
	}
	// 1,000 records of 1,024 bytes fill exactly one 1,000 KiB record.
	for range 1000 {
		add(1024, 'a')
	}
	// The next one starts a new packed record.
	add(10, 'b')
	// A record of exactly the limit goes alone.
	add(maxRecord, 'c')
	a.Flush()
	var recs []Record
	for _, b := range c.batches {
		recs = append(recs, b.Records...)
	}
	if len(recs) != 3 {
		t.Fatalf("%d Firehose records, want 3", len(recs))
	}
	if recs[0].Size() != maxRecord || recs[1].Size() != 10 || recs[2].Size() != maxRecord {
		t.Errorf("record sizes %d, %d, %d", recs[0].Size(), recs[1].Size(), recs[2].Size())
	}
	// Events are joined by newlines; the last one's is added on encoding.
	if n := bytes.Count(recs[0].Data, []byte("\n")); n != 999 || !bytes.HasPrefix(recs[0].Data, []byte("aaa")) || recs[0].Data[len(recs[0].Data)-1] != 'a' {
		t.Errorf("first record holds %d events, want 1000", n+1)
	}
	// Billed as the three records Firehose receives: 1,000 KiB is 200
	// units, where the 1,000 events alone would bill 1,000.
	if u := recs[0].BilledUnits() + recs[1].BilledUnits() + recs[2].BilledUnits(); u != 200+1+200 {
		t.Errorf("billed units %d, want 401", u)
	}
	for _, r := range recs {
		r.Part.Done()
	}
	for i, p := range parts {
		if p.n != 1 {
			t.Fatalf("event %d finished %d times, want 1", i, p.n)
		}
	}
	for _, b := range c.batches {
		if b.Bytes > 4<<20 {
			t.Errorf("batch of %d bytes", b.Bytes)
		}
	}
}

func TestAggregateKeepsSharedDataUntouched(t *testing.T) {
	t.Parallel()
	c := newCollector()
	a := New(Limits{MaxRecords: 500, MaxBytes: 4 << 20, Linger: time.Hour, Aggregate: true, MaxRecordBytes: 1000}, c.flush)
	// Spare capacity after the shared data must not be written into.
	buf := []byte("xZZZ")
	a.Add(Record{Data: buf[:1], Part: &countPart{}})
	a.Add(Record{Data: []byte("y"), Part: &countPart{}})
	a.Flush()
	if string(buf) != "xZZZ" || string(c.batches[0].Records[0].Data) != "x\ny" {
		t.Errorf("shared %q, packed %q", buf, c.batches[0].Records[0].Data)
	}
}

func TestRecycledBatchIsReusedEmpty(t *testing.T) {
	t.Parallel()
	c := newCollector()
	a := New(Limits{MaxRecords: 3, MaxBytes: 1 << 20, Linger: time.Hour}, c.flush)
	for range 3 {
		a.Add(rec(10))
	}
	first := <-c.ch
	full := first.Records[:cap(first.Records)]
	a.Recycle(first)
	for _, r := range full {
		if r.Data != nil || r.Part != nil {
			t.Fatal("a recycled batch still refers to its records")
		}
	}
	a.Add(rec(5))
	a.Flush()
	second := <-c.ch
	if second != first || len(second.Records) != 1 || second.Bytes != 5 {
		t.Errorf("second batch: reused=%v, %d records, %d bytes; want the recycled batch with 1 record of 5 bytes", second == first, len(second.Records), second.Bytes)
	}
}

// TestHeldBatchGrowsWhileBusy: while the stream is busy, a batch past its
// linger keeps taking records until it is full, Flush only makes it due,
// and Room hands it over once the stream is not busy.
func TestHeldBatchGrowsWhileBusy(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newCollector()
		var busy atomic.Bool
		busy.Store(true)
		a := New(Limits{MaxRecords: 5, MaxBytes: 4 << 20, Linger: 10 * time.Millisecond}, c.flush)
		a.HoldWhile(busy.Load)
		for range 3 {
			a.Add(rec(10))
		}
		time.Sleep(time.Second) // fake time: the linger is long past
		synctest.Wait()
		a.Room() // still busy
		if n := len(c.ch); n != 0 {
			t.Fatalf("%d batches handed over while busy", n)
		}
		a.Add(rec(10))
		a.Add(rec(10))
		if b := <-c.ch; len(b.Records) != 5 {
			t.Fatalf("the held batch went with %d records, want it full at 5", len(b.Records))
		}
		a.Add(rec(10))
		a.Add(rec(10))
		a.Flush()
		if n := len(c.ch); n != 0 {
			t.Fatalf("Flush handed over a batch while busy")
		}
		busy.Store(false)
		a.Room()
		if b := <-c.ch; len(b.Records) != 2 {
			t.Fatalf("Room handed over %d records, want the 2 held", len(b.Records))
		}
		a.Add(rec(10))
		time.Sleep(time.Second)
		synctest.Wait()
		if b := <-c.ch; len(b.Records) != 1 {
			t.Fatalf("not busy: the linger handed over %d records, want 1", len(b.Records))
		}
	})
}

// TestRecycledPackedRecordIsReused: once its batch is recycled, a packed
// record and the buffer its Data grew into serve the next packed record,
// which holds only its own events.
func TestRecycledPackedRecordIsReused(t *testing.T) {
	t.Parallel()
	c := newCollector()
	a := New(Limits{MaxRecords: 500, MaxBytes: 4 << 20, Linger: time.Hour, Aggregate: true, MaxRecordBytes: 1000 * 1024}, c.flush)
	first := []*countPart{{}, {}}
	a.Add(Record{Data: []byte("a1"), Part: first[0]})
	a.Add(Record{Data: []byte("a2"), Part: first[1]})
	a.Flush()
	b := <-c.ch
	old := b.Records[0]
	oldPk := old.Part.(*Packed)
	if string(old.Data) != "a1\na2" || len(oldPk.Records) != 2 {
		t.Fatalf("first packed record %q with %d events", old.Data, len(oldPk.Records))
	}
	old.Part.Done()
	a.Recycle(b)
	if len(oldPk.Records) != 0 || cap(oldPk.Records) < 2 || oldPk.Records[:2][0].Part != nil {
		t.Error("a recycled packed record still refers to its events")
	}
	if scrub.On && old.Data[0] != scrub.Byte {
		t.Errorf("race build: the recycled buffer holds %q, want it scrubbed", old.Data)
	}

	p := &countPart{}
	a.Add(Record{Data: []byte("b1"), Part: p})
	a.Flush()
	b = <-c.ch
	r := b.Records[0]
	if r.Part != oldPk || &r.Data[0] != &old.Data[0] {
		t.Error("the second packed record did not reuse the first one and its buffer")
	}
	if string(r.Data) != "b1" || len(r.Part.(*Packed).Records) != 1 {
		t.Errorf("second packed record %q with %d events, want \"b1\" alone", r.Data, len(r.Part.(*Packed).Records))
	}
	r.Part.Done()
	if p.n != 1 || first[0].n != 1 || first[1].n != 1 {
		t.Errorf("finished %d, %d, %d times; want each once", first[0].n, first[1].n, p.n)
	}
}

// TestNewPackedRecordStartsAtTheRecycledSize: once a stream has recycled a
// batch with a large packed record, new packed records start that large
// instead of growing from small again; once its batches hold only small
// ones, large buffers are let go and new ones start small.
func TestNewPackedRecordStartsAtTheRecycledSize(t *testing.T) {
	t.Parallel()
	const kb = 1024
	c := newCollector()
	a := New(Limits{MaxRecords: 500, MaxBytes: 4 << 20, Linger: time.Hour, Aggregate: true, MaxRecordBytes: 1000 * kb}, c.flush)
	batchOf := func(sizes ...int) *Batch {
		for _, n := range sizes {
			a.Add(rec(n))
		}
		a.Flush()
		return <-c.ch
	}
	// Busy: three 300 KiB events in one packed record of 900 KiB.
	b := batchOf(300*kb, 300*kb, 300*kb)
	big := b.Records[0].Size()
	a.Recycle(b)
	// Its buffer comes back for the next packed record; the one after it
	// (the first is full) finds none recycled and is made at 900 KiB.
	b = batchOf(800*kb, 10*kb, 300*kb)
	if len(b.Records) != 2 {
		t.Fatalf("%d packed records, want 2", len(b.Records))
	}
	if got := cap(b.Records[1].Data); got < big {
		t.Errorf("a new packed record has a buffer of %d bytes, want at least the recycled record's %d", got, big)
	}
	a.Recycle(b)
	// Quiet: a batch of one small packed record sets the start size back,
	// and each large buffer still in the pool serves once more and is
	// then let go.
	for range 1 + len(a.packs) {
		a.Recycle(batchOf(1 * kb))
	}
	for range 3 {
		b = batchOf(1 * kb)
		if got := cap(b.Records[0].Data); got > 512*kb {
			t.Errorf("a quiet stream's packed record of 1 KiB has a buffer of %d bytes", got)
		}
		a.Recycle(b)
	}
}

// TestShortPackedRecordIsTrimmedWhenHandedOver: a batch handed over with a
// packed record that fills little of a large buffer carries a copy of its
// own size, and the large buffer serves the next packed record, so batches
// waiting for their calls hold about the bytes they carry.
func TestShortPackedRecordIsTrimmedWhenHandedOver(t *testing.T) {
	t.Parallel()
	const kb = 1024
	c := newCollector()
	a := New(Limits{MaxRecords: 500, MaxBytes: 4 << 20, Linger: time.Hour, Aggregate: true, MaxRecordBytes: 1000 * kb}, c.flush)
	a.Add(rec(300 * kb))
	a.Add(rec(300 * kb))
	a.Add(rec(300 * kb))
	a.Flush()
	a.Recycle(<-c.ch) // start size now 900 KiB
	p := &countPart{}
	a.Add(Record{Data: []byte("small"), Part: p})
	a.Flush()
	b := <-c.ch
	r := b.Records[0]
	if string(r.Data) != "small" || cap(r.Data) > 64 {
		t.Errorf("handed over %q in a buffer of %d bytes, want it trimmed to its size", r.Data, cap(r.Data))
	}
	a.Add(rec(10))
	a.Add(rec(500 * kb)) // the next packed record has the large buffer back
	a.Flush()
	if got := cap((<-c.ch).Records[0].Data); got < 900*kb {
		t.Errorf("the next packed record's buffer has %d bytes, want the large one given back", got)
	}
	r.Part.Done()
	if p.n != 1 {
		t.Errorf("the trimmed record's event finished %d times, want 1", p.n)
	}
}
