package firehosesim

import (
	"context"
	"fmt"
	"sync"
)

// MemorySink keeps a copy of every record it is given, per stream and in
// arrival order, for tests to inspect. It is safe for concurrent use. Tests
// wait for records with Await or WaitFor rather than sleeping.
type MemorySink struct {
	mu      sync.Mutex
	streams map[string]*memoryStream
	records int64
	bytes   int64
	changed chan struct{} // closed and replaced on every Write
}

type memoryStream struct {
	records [][]byte
	bytes   int64
}

// NewMemorySink returns an empty MemorySink.
func NewMemorySink() *MemorySink {
	return &MemorySink{streams: make(map[string]*memoryStream), changed: make(chan struct{})}
}

// Write implements Sink. It copies the records into one new block, so the
// cost is two allocations per call, not one per record.
func (m *MemorySink) Write(_ context.Context, stream string, records [][]byte) error {
	size := 0
	for _, r := range records {
		size += len(r)
	}
	block := make([]byte, 0, size)
	copies := make([][]byte, len(records))
	for i, r := range records {
		start := len(block)
		block = append(block, r...)
		copies[i] = block[start:len(block):len(block)]
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.streams[stream]
	if !ok {
		s = &memoryStream{}
		m.streams[stream] = s
	}
	s.records = append(s.records, copies...)
	s.bytes += int64(size)
	m.records += int64(len(records))
	m.bytes += int64(size)
	close(m.changed)
	m.changed = make(chan struct{})
	return nil
}

// Records returns the records stream received, in order. The outer slice is
// a copy; the records themselves must not be modified.
func (m *MemorySink) Records(stream string) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.streams[stream]
	if !ok {
		return nil
	}
	return append([][]byte(nil), s.records...)
}

// Count returns how many records stream received.
func (m *MemorySink) Count(stream string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.streams[stream]; ok {
		return len(s.records)
	}
	return 0
}

// Bytes returns how many bytes of record data stream received.
func (m *MemorySink) Bytes(stream string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.streams[stream]; ok {
		return s.bytes
	}
	return 0
}

// Totals returns the records and bytes received over all streams.
func (m *MemorySink) Totals() (records, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.records, m.bytes
}

// Streams returns the names of the streams that received records.
func (m *MemorySink) Streams() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.streams))
	for name := range m.streams {
		names = append(names, name)
	}
	return names
}

// WaitFor returns nil once cond reports true, checking it now and after every
// Write, or ctx's error (wrapped) if ctx ends first. cond may call the
// sink's methods; it must not block.
func (m *MemorySink) WaitFor(ctx context.Context, cond func() bool) error {
	for {
		// Take the channel before checking, so a Write between the check and
		// the wait still wakes us.
		m.mu.Lock()
		changed := m.changed
		m.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("firehosesim: waiting for records: %w", ctx.Err())
		}
	}
}

// Await waits until stream has received at least n records.
func (m *MemorySink) Await(ctx context.Context, stream string, n int) error {
	err := m.WaitFor(ctx, func() bool { return m.Count(stream) >= n })
	if err != nil {
		return fmt.Errorf("%d of %d records on %q: %w", m.Count(stream), n, stream, err)
	}
	return nil
}
