//go:build chaos

package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// sampleInterval is how often the monitor looks at the group; it is the
// resolution of every recovery time in the report.
const sampleInterval = 500 * time.Millisecond

// sample is the group as the broker described it at one moment.
type sample struct {
	at    time.Time // when the answers were all in
	err   error     // the broker could not be asked (restart)
	state string
	// members are by member id; clients maps member id to client id.
	members   map[string][]int32
	clients   map[string]string
	committed map[int32]int64 // next offset to read; absent: never committed
	ends      map[int32]int64 // high watermarks
	lag       int64           // sum over partitions of end - committed
	maxLag    int64           // largest partition lag
	complete  bool            // Stable, and every partition assigned exactly once
}

// owned returns the partitions and member ids of the members with client id.
func (s *sample) owned(client string) (parts []int32, members []string) {
	for id, ps := range s.members {
		if s.clients[id] == client {
			parts = append(parts, ps...)
			members = append(members, id)
		}
	}
	slices.Sort(parts)
	return parts, members
}

func (s *sample) hasMember(ids []string) bool {
	for _, id := range ids {
		if _, ok := s.members[id]; ok {
			return true
		}
	}
	return false
}

func (s *sample) committedTotal() int64 {
	var n int64
	for _, c := range s.committed {
		n += c
	}
	return n
}

// monitor samples the group every sampleInterval through kadm, an
// independent client, and keeps the maxima of lag.
type monitor struct {
	adm        *kadm.Client
	group      string
	topic      string
	partitions int32
	start      time.Time
	csv        *os.File

	mu      sync.Mutex
	last    *sample
	changed chan struct{} // closed and replaced at every sample
	maxLag  int64
	maxPart int64
	maxAt   time.Duration
	samples int
	failed  int
	// hist keeps every good sample, for attributing duplicates.
	hist history
}

func newMonitor(adm *kadm.Client, names runNames, partitions int, start time.Time, csvPath string) (*monitor, error) {
	f, err := os.Create(csvPath)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(f, "t_s,state,members,complete,total_lag,max_partition_lag,committed_total,end_total,error")
	return &monitor{adm: adm, group: names.Group, topic: names.Topic, partitions: int32(partitions), start: start, csv: f,
		changed: make(chan struct{})}, nil
}

// run samples until ctx ends; it must return promptly then.
func (m *monitor) run(ctx context.Context) {
	defer m.csv.Close()
	t := time.NewTicker(sampleInterval)
	defer t.Stop()
	for {
		m.publish(m.take(ctx))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *monitor) take(ctx context.Context) *sample {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s := &sample{members: map[string][]int32{}, clients: map[string]string{}, committed: map[int32]int64{}, ends: map[int32]int64{}}
	defer func() { s.at = time.Now() }()

	groups, err := m.adm.DescribeGroups(ctx, m.group)
	if err == nil {
		err = groups.Error()
	}
	if err != nil {
		s.err = fmt.Errorf("describe group: %w", err)
		return s
	}
	g := groups[m.group]
	s.state = g.State
	owners := map[int32]int{}
	for _, mem := range g.Members {
		s.clients[mem.MemberID] = mem.ClientID
		s.members[mem.MemberID] = nil
		ca, ok := mem.Assigned.AsConsumer()
		if !ok {
			continue
		}
		for _, t := range ca.Topics {
			if t.Topic != m.topic {
				continue
			}
			for _, p := range t.Partitions {
				owners[p]++
				s.members[mem.MemberID] = append(s.members[mem.MemberID], p)
			}
		}
	}
	s.complete = s.state == "Stable" && len(owners) == int(m.partitions)
	for _, n := range owners {
		if n != 1 {
			s.complete = false
		}
	}

	offs, err := m.adm.FetchOffsets(ctx, m.group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		s.err = fmt.Errorf("fetch offsets: %w", err)
		return s
	}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == m.topic && o.Err == nil && o.At >= 0 {
			s.committed[o.Partition] = o.At
		}
	})
	ends, err := m.adm.ListEndOffsets(ctx, m.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		s.err = fmt.Errorf("list end offsets: %w", err)
		return s
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Topic == m.topic {
			s.ends[o.Partition] = o.Offset
		}
	})
	for p := range m.partitions {
		l := s.ends[p] - s.committed[p]
		s.lag += max(l, 0)
		s.maxLag = max(s.maxLag, l)
	}
	return s
}

func (m *monitor) publish(s *sample) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples++
	t := s.at.Sub(m.start).Seconds()
	if s.err != nil {
		m.failed++
		fmt.Fprintf(m.csv, "%.1f,,,,,,,,%q\n", t, s.err.Error())
	} else {
		var endTotal int64
		for _, e := range s.ends {
			endTotal += e
		}
		fmt.Fprintf(m.csv, "%.1f,%s,%d,%v,%d,%d,%d,%d,\n", t, s.state, len(s.members), s.complete, s.lag, s.maxLag, s.committedTotal(), endTotal)
		if s.lag > m.maxLag {
			m.maxLag, m.maxAt = s.lag, s.at.Sub(m.start)
		}
		m.maxPart = max(m.maxPart, s.maxLag)
		m.last = s
		m.hist.add(s)
	}
	close(m.changed)
	m.changed = make(chan struct{})
}

// latest returns the newest good sample, or nil.
func (m *monitor) latest() *sample {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// next waits for the first good sample taken after it was called.
func (m *monitor) next(ctx context.Context) (*sample, error) {
	since := time.Now()
	for {
		m.mu.Lock()
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
		if s := m.latest(); s != nil && s.at.After(since) {
			return s, nil
		}
	}
}

// waitFor returns the first good sample for which cond holds, or an error
// after timeout.
func (m *monitor) waitFor(ctx context.Context, timeout time.Duration, cond func(*sample) bool) (*sample, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		s, err := m.next(ctx)
		if err != nil {
			return nil, err
		}
		if cond(s) {
			return s, nil
		}
	}
}

type lagStats struct {
	MaxTotal        int64   `json:"max_total_lag"`
	MaxTotalAtSec   float64 `json:"max_total_lag_at_s"`
	MaxPartition    int64   `json:"max_partition_lag"`
	Samples         int     `json:"samples"`
	FailedSamples   int     `json:"failed_samples"`
	IntervalSeconds float64 `json:"sample_interval_s"`
}

func (m *monitor) stats() lagStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return lagStats{MaxTotal: m.maxLag, MaxTotalAtSec: m.maxAt.Seconds(), MaxPartition: m.maxPart,
		Samples: m.samples, FailedSamples: m.failed, IntervalSeconds: sampleInterval.Seconds()}
}
