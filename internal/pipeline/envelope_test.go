package pipeline_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/itest"
)

// A /v1/batch body as analytics-node sends it, with the kinds of item a
// collector that writes what it received can let through after the valid
// ones: not an object, a track without an event, no type at all.
var nodeItems = []string{
	`{"type":"identify","userId":"u_4821","traits":{"email":"ada@example.org","plan":"team"},"context":{"library":{"name":"analytics-node","version":"6.2.0"}},"timestamp":"2026-11-30T09:14:02.118Z","messageId":"node-1"}`,
	`{"type":"track","event":"User Registered","userId":"u_4821","properties":{"plan":"team"},"context":{"library":{"name":"analytics-node","version":"6.2.0"}},"timestamp":"2026-11-30T09:14:03.902Z","messageId":"node-2"}`,
	`{"type":"page","name":"Pricing","userId":"u_4821","properties":{"path":"/pricing"},"context":{"library":{"name":"analytics-node","version":"6.2.0"}},"timestamp":"2026-11-30T09:14:04.001Z","messageId":"node-3"}`,
	`7`,
	`{"type":"track","userId":"u_4821","messageId":"node-5"}`,
	`{"userId":"u_4821","traits":{"name":"Ada"},"messageId":"node-6"}`,
}

func nodeEnvelope() []byte {
	return []byte(`{"batch":[` + strings.Join(nodeItems, ",") + `],"timestamp":"2026-11-30T09:14:05.250Z","sentAt":"2026-11-30T09:14:05.250Z"}`)
}

// The items of an envelope are delivered, each as its own record, to the
// streams each routes to; the bad ones are dead-lettered alone with their
// index; and the envelope's offset is committed only once its last part,
// here the page held back by a failing stream, is delivered.
func TestEnvelopeItemsAreDeliveredAloneAndCommittedTogether(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "events", "dlq")
	fh := itest.StartFirehose(t)
	fh.Sim.Faults().RejectStream("pages", "ServiceUnavailableException", "Slow down.")
	single := `{"type":"track","event":"Signed In","userId":"u9","messageId":"s-1"}`
	after := `{"type":"screen","name":"Home","userId":"u9","messageId":"s-2"}`
	k.Produce(t, "events", []itest.Msg{
		{Key: []byte("u9"), Value: []byte(single)},
		{Key: []byte("u_4821"), Value: nodeEnvelope()},
		{Key: []byte("u9"), Value: []byte(after)},
	})
	cfg := testConfig(k.Brokers, "g-envelope", "events")
	cfg.Kafka.DLQTopic = "dlq"
	start(t, cfg, fh)

	everything := map[string]int{single + "\n": 1, after + "\n": 1}
	for _, it := range nodeItems[:3] {
		everything[it+"\n"] = 1
	}
	fh.Await(t, 30*time.Second, "every record but the held-back page", func() bool {
		return len(fh.Records("everything")) >= len(everything) && len(fh.Records("new_users")) >= 1
	})
	if d := itest.DiffMultisets(everything, itest.Multiset(fh.Records("everything"))); d != "" {
		t.Errorf("everything: %s", d)
	}
	if d := itest.DiffMultisets(map[string]int{nodeItems[1] + "\n": 1}, itest.Multiset(fh.Records("new_users"))); d != "" {
		t.Errorf("new_users: %s", d)
	}
	fh.Await(t, 30*time.Second, "the three dead letters", func() bool { return len(k.Consume(t, "dlq")) >= 3 })
	letters := k.Consume(t, "dlq")
	if len(letters) != 3 {
		t.Fatalf("%d dead letters, want 3", len(letters))
	}
	wantReason := map[string]string{"3": "not_object", "4": "missing_event", "5": "missing_type"}
	for _, r := range letters {
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		idx := h["dlq.batch.index"]
		if wantReason[idx] == "" || h["dlq.reason"] != wantReason[idx] || h["dlq.source.offset"] != "1" || string(r.Key) != "u_4821" {
			t.Errorf("dead letter %q: headers %v", r.Value, h)
			continue
		}
		i, _ := strconv.Atoi(idx)
		if !bytes.Equal(r.Value, []byte(nodeItems[i])) {
			t.Errorf("dead letter %s value = %s, want the item alone: %s", idx, r.Value, nodeItems[i])
		}
	}

	// Offset 0 is done; the envelope (1) waits for its page, and so the
	// screen after it (2), delivered already, is not committed either.
	fh.Await(t, 30*time.Second, "offset 0 committed", func() bool { return k.Committed(t, "g-envelope", "events")[0] >= 1 })
	for deadline := time.Now().Add(10 * cfg.Kafka.CommitInterval.D()); time.Now().Before(deadline); {
		if c := k.Committed(t, "g-envelope", "events")[0]; c != 1 {
			t.Fatalf("committed %d while the envelope at 1 still has an unacknowledged part", c)
		}
	}
	fh.Sim.Faults().AllowStream("pages")
	awaitCommitted(t, k, fh, "g-envelope", "events")
	if d := itest.DiffMultisets(map[string]int{nodeItems[2] + "\n": 1}, itest.Multiset(fh.Records("pages"))); d != "" {
		t.Errorf("pages: %s", d)
	}
}

// With envelope_merge and default_type: an envelope's items take its
// sentAt and context members, the untyped ones the assumed type, and a
// value that came from /v1/track without a type says it is a track.
func TestEnvelopeMergeAndDefaultType(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "events")
	fh := itest.StartFirehose(t)
	// As analytics-python writes it: ", " and ": " between members.
	envelope := `{"batch": [{"event": "Plan Upgraded", "userId": "u_77", "properties": {"plan": "pro"}, "context": {"library": {"name": "analytics-python", "version": "2.3.2"}}, "messageId": "py-1"}, ` +
		`{"type": "page", "name": "Pricing", "userId": "u_77", "sentAt": "2026-11-30T10:01:13Z", "messageId": "py-2"}], ` +
		`"sentAt": "2026-11-30T10:01:15.118841+00:00", "context": {"ip": "203.0.113.9", "library": {"name": "collector"}}}`
	track := `{"event":"Signed Up","userId":"u1","messageId":"t-1"}`
	k.Produce(t, "events", []itest.Msg{{Value: []byte(envelope)}, {Value: []byte(track)}})
	cfg := testConfig(k.Brokers, "g-merge", "events")
	cfg.Sources[0].EnvelopeMerge = true
	cfg.Sources[0].DefaultType = "track"
	start(t, cfg, fh)
	awaitCommitted(t, k, fh, "g-merge", "events")
	want := map[string]int{
		`{"event":"Plan Upgraded","userId":"u_77","properties":{"plan":"pro"},"context":{"library":{"name":"analytics-python","version":"2.3.2"},"ip":"203.0.113.9"},"messageId":"py-1","type":"track","sentAt":"2026-11-30T10:01:15.118841+00:00"}` + "\n": 1,
		`{"type":"page","name":"Pricing","userId":"u_77","sentAt":"2026-11-30T10:01:13Z","messageId":"py-2","context":{"ip":"203.0.113.9","library":{"name":"collector"}}}` + "\n":                                                                          1,
		`{"event":"Signed Up","userId":"u1","messageId":"t-1","type":"track"}` + "\n": 1,
	}
	if d := itest.DiffMultisets(want, itest.Multiset(fh.Records("everything"))); d != "" {
		t.Errorf("everything: %s; got %q", d, fh.Records("everything"))
	}
}

// With envelope: none a batch body is one message without a type, as
// before envelopes were split.
func TestEnvelopeNoneKeepsTheValueWhole(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "events", "dlq")
	fh := itest.StartFirehose(t)
	k.Produce(t, "events", []itest.Msg{{Value: nodeEnvelope()}})
	cfg := testConfig(k.Brokers, "g-none", "events")
	cfg.Kafka.DLQTopic = "dlq"
	cfg.Sources[0].Envelope = "none"
	start(t, cfg, fh)
	awaitCommitted(t, k, fh, "g-none", "events")
	letters := k.Consume(t, "dlq")
	if len(letters) != 1 || !bytes.Equal(letters[0].Value, nodeEnvelope()) {
		t.Fatalf("%d dead letters, want the whole envelope once", len(letters))
	}
	for _, h := range letters[0].Headers {
		if h.Key == "dlq.batch.index" {
			t.Errorf("a whole value has a batch index %q", h.Value)
		}
		if h.Key == "dlq.reason" && string(h.Value) != "missing_type" {
			t.Errorf("reason %q, want missing_type", h.Value)
		}
	}
	if n := fh.Total(); n != 0 {
		t.Errorf("%d records delivered, want none", n)
	}
}

// An item too large for Firehose is dead-lettered alone, naming the stream
// it was for; a turned-off or unrouted item takes no part, and the rest of
// the envelope goes.
func TestEnvelopeItemTooLargeIsDeadLetteredAlone(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "events", "dlq")
	fh := itest.StartFirehose(t)
	big := `{"type":"page","name":"Big","p":"` + strings.Repeat("x", config.MaxRecordBytes) + `"}`
	small := `{"type":"identify","userId":"u1","messageId":"i-1"}`
	off := `{"type":"track","event":"Quiet","integrations":{"Amazon Kinesis Firehose":false}}`
	k.Produce(t, "events", []itest.Msg{{Value: []byte(`{"batch":[` + big + `,` + small + `,` + off + `]}`)}})
	cfg := testConfig(k.Brokers, "g-big", "events")
	cfg.Kafka.DLQTopic = "dlq"
	start(t, cfg, fh)
	awaitCommitted(t, k, fh, "g-big", "events")
	if d := itest.DiffMultisets(map[string]int{small + "\n": 1}, itest.Multiset(fh.Records("everything"))); d != "" {
		t.Errorf("everything: %s", d)
	}
	letters := k.Consume(t, "dlq")
	if len(letters) != 1 || string(letters[0].Value) != big {
		t.Fatalf("%d dead letters, want the big item alone", len(letters))
	}
	h := map[string]string{}
	for _, x := range letters[0].Headers {
		h[x.Key] = string(x.Value)
	}
	if h["dlq.reason"] != "record_too_large" || h["dlq.batch.index"] != "0" || h["dlq.stream"] != "pages" {
		t.Errorf("headers %v", h)
	}
}
