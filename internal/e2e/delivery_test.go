//go:build e2e

package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDelivery produces a realistic mix plus hand-written edge cases to a
// 6-partition topic, runs one worker, and reads back every S3 object of every
// stream: each stream must hold exactly the records the routing rules give,
// byte for byte, each once. Along the way, whatever the group has committed
// must already be in S3.
func TestDelivery(t *testing.T) {
	e := newEnv(t, "dlv", true, false)
	const partitions, events = 6, 3000
	topic, group := name("dlv"), name("dlv")
	streams := streamSet{
		All:      name("dlv", "all"),
		Pages:    name("dlv", "pages"),
		Orders:   name("dlv", "orders"),
		People:   name("dlv", "people"),
		NewUsers: name("dlv", "new_users"),
	}
	rows := routingRows(streams)
	e.createTopic(topic, partitions)
	e.createStreams(streams.names()...)
	e.deleteGroupOnPass(group)

	led := newLedger(map[string][]row{topic: rows})
	src := newSource(1, true)
	e.produce(led, topic, src, events)
	t.Logf("produced %d messages: %s", events, led.describeMix())

	cfg := e.writeConfig(workerConfig{group: group, sources: []sourceConfig{{id: "src_" + runID, topics: []string{topic}, rows: rows}}})
	w := e.startWorker("w1", cfg)
	d := e.delivery(streams.names()...)
	o := e.waitDelivered(led, d, group, 3*time.Minute)
	e.check(led, d, o)
	dups := led.duplicates(d, nil)
	e.judgeDuplicates(dups, w)
	for _, s := range streams.names() {
		if o.Objects[s] == 0 {
			t.Errorf("stream %s received nothing; the routing mix does not exercise it", s)
		}
	}

	// A clean stop: exit status 0 and no error other than the deliberately
	// broken message.
	e.signal(w, syscall.SIGTERM)
	if err := e.waitExit(w, 30*time.Second); err != nil {
		t.Errorf("SIGTERM: worker exited with %v, want status 0", err)
	}
	for _, p := range w.problems() {
		if !strings.Contains(p, "undeliverable message skipped") {
			t.Errorf("worker logged %s", p)
		}
	}
	if n := len(w.lines("undeliverable message skipped (no dead-letter topic is set)")); n != 1 {
		t.Errorf("worker logged %d undeliverable messages, want 1 (the hand-written broken one)", n)
	}
	t.Logf("%s", o)
	e.report(map[string]any{"outcome": o, "duplicates": dups, "mix": led.describeMix()})
}
