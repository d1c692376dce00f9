package firehosesim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// DirSink writes records to files the way Firehose writes objects to S3, so
// the sandbox's output can be read like a real bucket:
//
//	<Dir>/<stream>/YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>
//
// Each file is the plain concatenation of its records; no separator is added
// (Firehose adds none either; our records already end in '\n'). As in
// Firehose, the time in the path and name is the arrival time of the oldest
// record in the file, in UTC, and "1" is the stream's version.
// https://docs.aws.amazon.com/firehose/latest/dev/s3-object-name.html
//
// Records are buffered per stream. A buffer becomes a file when it reaches
// BufferBytes (checked after each record, so a file ends at the record that
// crossed the size), when BufferInterval has passed since its oldest record
// arrived, on Flush, and on Close. A file is written under <Dir>/.tmp and
// renamed into place, so a reader never sees a partial file.
//
// If writing a file fails, its records stay buffered and the next flush
// tries again; while that keeps failing, Write refuses new records with the
// error, which the Server reports to the client as InternalFailure.
type DirSink struct {
	dir      string
	tmp      string
	interval time.Duration
	size     int
	clock    func() time.Time
	onFile   func(FileInfo)

	// Lock order: a dirStream's mu may be held while taking mu, never the
	// other way round.
	mu      sync.Mutex
	closed  bool
	streams map[string]*dirStream
	timers  sync.WaitGroup // interval flushes scheduled or running
}

// DirOptions configure a DirSink.
type DirOptions struct {
	// Dir is the root directory; it is created if needed.
	Dir string
	// BufferInterval is the longest a record waits in a buffer; default 5s.
	BufferInterval time.Duration
	// BufferBytes is the buffer size that triggers a file; default 5 MiB.
	BufferBytes int
	// Clock names files; default time.Now. Timers always use real time.
	Clock func() time.Time
	// OnFile, if set, is called after each file is in place. It runs with
	// the stream's buffer locked and must not call back into the DirSink.
	OnFile func(FileInfo)
}

// FileInfo describes a file a DirSink wrote.
type FileInfo struct {
	Stream  string
	Path    string
	Records int
	Bytes   int
}

// DirTotals counts what a DirSink did for one stream.
type DirTotals struct {
	Files, Records, Bytes int64 // written to files
	PendingRecords        int64 // buffered, not yet in a file
	PendingBytes          int64
}

type dirStream struct {
	mu      sync.Mutex
	name    string
	buf     []byte
	records int
	oldest  time.Time   // arrival of the oldest buffered record
	timer   *time.Timer // interval flush of the current buffer; nil if none
	gen     uint64      // bumped whenever the buffer is emptied
	err     error       // the last failed write, cleared by a successful one
	totals  DirTotals
}

// Defaults of DirOptions. Real Firehose defaults to 300 s and 5 MiB; a
// sandbox wants files sooner.
const (
	defaultBufferInterval = 5 * time.Second
	defaultBufferBytes    = 5 << 20
)

// NewDirSink creates opts.Dir and returns a DirSink writing below it.
func NewDirSink(opts DirOptions) (*DirSink, error) {
	if opts.Dir == "" {
		return nil, errors.New("firehosesim: DirSink needs a directory")
	}
	d := &DirSink{
		dir:      opts.Dir,
		tmp:      filepath.Join(opts.Dir, ".tmp"),
		interval: opts.BufferInterval,
		size:     opts.BufferBytes,
		clock:    opts.Clock,
		onFile:   opts.OnFile,
		streams:  make(map[string]*dirStream),
	}
	if d.interval <= 0 {
		d.interval = defaultBufferInterval
	}
	if d.size <= 0 {
		d.size = defaultBufferBytes
	}
	if d.clock == nil {
		d.clock = time.Now
	}
	if err := os.MkdirAll(d.tmp, 0o755); err != nil {
		return nil, fmt.Errorf("firehosesim: creating %s: %w", d.tmp, err)
	}
	return d, nil
}

// ErrClosed is returned by a DirSink's Write after Close.
var ErrClosed = errors.New("firehosesim: sink closed")

// Write implements Sink: it buffers the records and writes files as the
// buffer fills. ctx is not used; writing a file is short and not abandoned.
func (d *DirSink) Write(_ context.Context, stream string, records [][]byte) error {
	s, err := d.stream(stream)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil && len(s.buf) > 0 {
		if err := d.flushLocked(s); err != nil {
			return fmt.Errorf("firehosesim: stream %s cannot take records: %w", stream, err)
		}
	}
	failing := false
	for _, r := range records {
		if len(s.buf) == 0 {
			s.oldest = d.clock()
			d.scheduleLocked(s)
		}
		s.buf = append(s.buf, r...)
		s.records++
		if len(s.buf) >= d.size && !failing {
			// A failure keeps the data buffered; stop trying for this call.
			failing = d.flushLocked(s) != nil
		}
	}
	return nil
}

// stream returns the buffer of a stream, creating it on first use.
func (d *DirSink) stream(name string) (*dirStream, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("firehosesim: %q cannot name a directory", name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	s, ok := d.streams[name]
	if !ok {
		s = &dirStream{name: name}
		d.streams[name] = s
	}
	return s, nil
}

// scheduleLocked arms the interval flush for the buffer that just received
// its first record. The timer's goroutine flushes only that buffer
// generation, and Close waits for it through d.timers.
func (d *DirSink) scheduleLocked(s *dirStream) {
	gen := s.gen
	d.timers.Add(1)
	s.timer = time.AfterFunc(d.interval, func() {
		defer d.timers.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.gen != gen || len(s.buf) == 0 {
			return
		}
		s.timer = nil
		if err := d.flushLocked(s); err != nil && !d.isClosed() {
			// Keep the buffer and try again one interval later; after Close
			// the final Flush has the last word.
			d.scheduleLocked(s)
		}
	})
}

// stopTimerLocked cancels a pending interval flush.
func (d *DirSink) stopTimerLocked(s *dirStream) {
	if s.timer != nil && s.timer.Stop() {
		d.timers.Done() // its function will never run
	}
	s.timer = nil
}

// flushLocked writes the buffer of s as one file, if it holds anything.
func (d *DirSink) flushLocked(s *dirStream) error {
	if len(s.buf) == 0 {
		return nil
	}
	path, err := d.writeFile(s.name, s.oldest, s.buf)
	if err != nil {
		s.err = err
		return err
	}
	s.err = nil
	info := FileInfo{Stream: s.name, Path: path, Records: s.records, Bytes: len(s.buf)}
	s.totals.Files++
	s.totals.Records += int64(s.records)
	s.totals.Bytes += int64(len(s.buf))
	s.buf = s.buf[:0]
	s.records = 0
	s.gen++
	d.stopTimerLocked(s)
	if d.onFile != nil {
		d.onFile(info)
	}
	return nil
}

// writeFile puts data in place under its final name through a temporary file
// and returns the final path.
func (d *DirSink) writeFile(stream string, at time.Time, data []byte) (string, error) {
	at = at.UTC()
	id := newUUID()
	dir := filepath.Join(d.dir, stream, at.Format("2006"), at.Format("01"), at.Format("02"), at.Format("15"))
	name := fmt.Sprintf("%s-%s-%s-%s", stream, deliveryStreamVersionID, at.Format("2006-01-02-15-04-05"), id)
	final := filepath.Join(dir, name)

	tmp, err := os.CreateTemp(d.tmp, name+".*")
	if err != nil {
		return "", fmt.Errorf("creating a temporary file for %s: %w", final, err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("renaming %s to %s: %w", tmp.Name(), final, err)
	}
	return final, nil
}

// Flush writes every non-empty buffer to a file now. It returns every failure,
// joined; the records of a failed file stay buffered.
func (d *DirSink) Flush(ctx context.Context) error {
	var errs []error
	for _, s := range d.snapshotStreams() {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("firehosesim: flush interrupted: %w", err))
			break
		}
		s.mu.Lock()
		if err := d.flushLocked(s); err != nil {
			errs = append(errs, fmt.Errorf("firehosesim: flushing stream %s: %w", s.name, err))
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Close refuses further writes, waits for interval flushes in progress,
// and writes what is still buffered. Call it after the Server that writes
// here has stopped. Records whose file could not be written are lost, and
// the error says so.
func (d *DirSink) Close(ctx context.Context) error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	for _, s := range d.snapshotStreams() {
		s.mu.Lock()
		d.stopTimerLocked(s)
		s.mu.Unlock()
	}
	waited := make(chan struct{})
	go func() { d.timers.Wait(); close(waited) }() // ends once running timer functions return
	select {
	case <-waited:
	case <-ctx.Done():
		return fmt.Errorf("firehosesim: closing %s: %w", d.dir, ctx.Err())
	}
	err := d.Flush(ctx)
	if rmErr := os.Remove(d.tmp); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		err = errors.Join(err, fmt.Errorf("firehosesim: removing %s: %w", d.tmp, rmErr))
	}
	return err
}

// Totals returns per-stream counts, for a run summary.
func (d *DirSink) Totals() map[string]DirTotals {
	out := make(map[string]DirTotals)
	for _, s := range d.snapshotStreams() {
		s.mu.Lock()
		t := s.totals
		t.PendingRecords = int64(s.records)
		t.PendingBytes = int64(len(s.buf))
		s.mu.Unlock()
		out[s.name] = t
	}
	return out
}

func (d *DirSink) snapshotStreams() []*dirStream {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Collect(maps.Values(d.streams))
}

func (d *DirSink) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// newUUID returns a random (version 4) UUID, the form Firehose uses at the
// end of object names.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
