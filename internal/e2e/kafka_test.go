//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// createTopic creates topic with partitions partitions and waits until every
// partition has a leader. The topic is deleted when the test passes.
func (e *env) createTopic(topic string, partitions int32) {
	e.t.Helper()
	ctx := e.ctx(60 * time.Second)
	if _, err := e.admin.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		e.t.Fatalf("creating topic %s: %v", topic, err)
	}
	e.t.Cleanup(func() {
		if e.t.Failed() {
			return // keep it for a look
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = e.admin.DeleteTopic(ctx, topic)
	})
	eventually(e.t, 30*time.Second, 100*time.Millisecond, "topic "+topic+" to have leaders", func() (bool, string) {
		md, err := e.admin.Metadata(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		td, ok := md.Topics[topic]
		if !ok || td.Err != nil || len(td.Partitions) != int(partitions) {
			return false, fmt.Sprintf("metadata: %+v", td)
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false, fmt.Sprintf("partition %d: leader %d, %v", p.Partition, p.Leader, p.Err)
			}
		}
		return true, ""
	})
}

// deleteGroupOnPass removes the consumer group when the test passes; it runs
// after the workers' cleanups (registered later, run earlier), so the group
// is empty by then.
func (e *env) deleteGroupOnPass(group string) {
	e.t.Cleanup(func() {
		if e.t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = e.admin.DeleteGroup(ctx, group)
	})
}

// newProducer returns an independent franz-go producer: idempotent, retrying
// without limit (so a broker restart delays messages and never fails them)
// and partitioning by key like Segment's producers. It is closed with the
// test.
func (e *env) newProducer() *kgo.Client {
	e.t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(kafkaAddr),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cl.Close)
	return cl
}

// produce sends n messages of src to topic, recording each in led, and
// waits until the broker acknowledged all of them.
func (e *env) produce(led *ledger, topic string, src *source, n int) {
	e.t.Helper()
	cl := e.newProducer()
	ctx := e.ctx(2 * time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range n {
		d := src.next()
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: d.key, Value: d.value}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				firstErr = firstOf(firstErr, err)
				mu.Unlock()
				return
			}
			led.add(r, d)
		})
	}
	wg.Wait()
	if firstErr != nil {
		e.t.Fatalf("producing to %s: %v", topic, firstErr)
	}
}

func firstOf(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// steadyProducer produces to a topic at a fixed rate in the background.
type steadyProducer struct {
	stop    chan struct{}
	done    chan struct{}
	sent    atomic.Int64 // acknowledged
	pending sync.WaitGroup
	mu      sync.Mutex
	err     error
}

// startProducer produces src's messages to topic at rate per second until
// Stop. Acknowledged messages are recorded in led.
func (e *env) startProducer(led *ledger, topic string, src *source, rate int) *steadyProducer {
	cl := e.newProducer()
	p := &steadyProducer{stop: make(chan struct{}), done: make(chan struct{})}
	const tick = 20 * time.Millisecond
	go func() {
		defer close(p.done)
		t := time.NewTicker(tick)
		defer t.Stop()
		start := time.Now()
		n := 0
		for {
			select {
			case <-p.stop:
				return
			case now := <-t.C:
				// Catch up to the rate from the start, so a stall (broker
				// restart) is made up for by later ticks.
				due := int(now.Sub(start).Seconds() * float64(rate))
				for ; n < due; n++ {
					d := src.next()
					p.pending.Add(1)
					cl.Produce(context.Background(), &kgo.Record{Topic: topic, Key: d.key, Value: d.value}, func(r *kgo.Record, err error) {
						defer p.pending.Done()
						if err != nil {
							p.mu.Lock()
							p.err = firstOf(p.err, err)
							p.mu.Unlock()
							return
						}
						led.add(r, d)
						p.sent.Add(1)
					})
				}
			}
		}
	}()
	e.t.Cleanup(func() { p.Stop(30 * time.Second) })
	return p
}

// Stop stops producing and waits up to timeout for the acknowledgements of
// what was handed to the client. It returns the first produce error.
func (p *steadyProducer) Stop(timeout time.Duration) error {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	acked := make(chan struct{})
	go func() { p.pending.Wait(); close(acked) }()
	select {
	case <-acked:
	case <-time.After(timeout):
		return fmt.Errorf("produced messages still unacknowledged after %s", timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// waitSent waits until at least n messages were acknowledged.
func (e *env) waitSent(p *steadyProducer, n int64, timeout time.Duration) {
	e.t.Helper()
	eventually(e.t, timeout, 50*time.Millisecond, fmt.Sprintf("%d produced messages", n), func() (bool, string) {
		s := p.sent.Load()
		return s >= n, fmt.Sprintf("%d acknowledged", s)
	})
}

// tp is a topic partition.
type tp struct {
	topic     string
	partition int32
}

func (p tp) String() string { return fmt.Sprintf("%s/%d", p.topic, p.partition) }

// committed returns the group's committed offsets (the next offset to read).
func (e *env) committed(ctx context.Context, group string) (map[tp]int64, error) {
	resp, err := e.admin.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[tp]int64{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[tp]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At >= 0 {
			out[tp{o.Topic, o.Partition}] = o.At
		}
	})
	return out, nil
}

// assignment is a Stable group's partitions by member.
type assignment struct {
	members map[string][]tp // member id -> partitions
	clients map[string]string
}

func (a assignment) String() string {
	var ids []string
	for id := range a.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	for _, id := range ids {
		ps := a.members[id]
		names := make([]string, len(ps))
		for i, p := range ps {
			names[i] = fmt.Sprint(p.partition)
		}
		fmt.Fprintf(&b, "%s: [%s]; ", id, strings.Join(names, " "))
	}
	return b.String()
}

// waitAssignment waits until group is Stable with members members whose
// assignments cover every partition of topics exactly once, and returns it.
func (e *env) waitAssignment(group string, members int, topics map[string]int32, timeout time.Duration) assignment {
	e.t.Helper()
	var last assignment
	ctx := e.ctx(timeout + 10*time.Second)
	eventually(e.t, timeout, 200*time.Millisecond, fmt.Sprintf("group %s to be Stable with %d members owning every partition once", group, members), func() (bool, string) {
		gs, err := e.admin.DescribeGroups(ctx, group)
		if err != nil {
			return false, err.Error()
		}
		g, ok := gs[group]
		if !ok || g.Err != nil {
			return false, fmt.Sprintf("describe: %v", g.Err)
		}
		last = assignment{members: map[string][]tp{}, clients: map[string]string{}}
		owners := map[tp][]string{}
		for _, m := range g.Members {
			ca, ok := m.Assigned.AsConsumer()
			if !ok {
				return false, fmt.Sprintf("member %s has a non-consumer assignment", m.MemberID)
			}
			last.clients[m.MemberID] = m.ClientID + "@" + m.ClientHost
			last.members[m.MemberID] = nil
			for _, t := range ca.Topics {
				for _, p := range t.Partitions {
					k := tp{t.Topic, p}
					owners[k] = append(owners[k], m.MemberID)
					last.members[m.MemberID] = append(last.members[m.MemberID], k)
				}
			}
		}
		if g.State != "Stable" || len(g.Members) != members {
			return false, fmt.Sprintf("state %s with %d members: %s", g.State, len(g.Members), last)
		}
		want := 0
		for topic, n := range topics {
			want += int(n)
			for p := range n {
				if o := owners[tp{topic, p}]; len(o) != 1 {
					return false, fmt.Sprintf("%s/%d owned by %v", topic, p, o)
				}
			}
		}
		if len(owners) != want {
			return false, fmt.Sprintf("%d partitions assigned, want %d: %s", len(owners), want, last)
		}
		return true, ""
	})
	return last
}
