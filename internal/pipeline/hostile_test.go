package pipeline_test

import (
	"strings"
	"testing"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/itest"
)

// TestHostileInputIsDeadLetteredAndNothingStalls sends every kind of bad
// input we know of between good messages; each bad one must reach the
// dead-letter topic with its reason, the good ones must be delivered, and the
// partition must be committed to its end.
func TestHostileInputIsDeadLetteredAndNothingStalls(t *testing.T) {
	t.Parallel()
	k := itest.StartKafkaWith(t, map[string]string{"message.max.bytes": "31457280"}, 1, "events", "dlq")
	fh := itest.StartFirehose(t)
	deep := `{"type":"page","a":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`
	huge := `{"type":"page","blob":"` + strings.Repeat("x", 20<<20) + `"}`
	hostile := []struct {
		name   string
		value  []byte
		reason string // "" when the message is delivered
		record string
	}{
		{"empty", []byte{}, "empty", ""},
		{"tombstone", nil, "empty", ""},
		{"invalid utf-8", []byte("{\"type\":\"page\",\"s\":\"\xc3\x28\"}"), "invalid_utf8", ""},
		{"100k levels", []byte(deep), "too_deep", ""},
		{"20 MB value", []byte(huge), "record_too_large", ""},
		{"duplicate keys", []byte(`{"type":"page","type":"track","event":"Dup"}`), "", "{\"type\":\"page\",\"type\":\"track\",\"event\":\"Dup\"}\n"},
		{"numbers beyond float64", []byte(`{"type":"page","n":1e400,"m":123456789012345678901234567890}`), "", "{\"type\":\"page\",\"n\":1e400,\"m\":123456789012345678901234567890}\n"},
		{"numeric type", []byte(`{"type":42}`), "type_not_string", ""},
		{"track without event", []byte(`{"type":"track","properties":{}}`), "missing_event", ""},
		{"integrations of the wrong shape", []byte(`{"type":"page","integrations":["All"]}`), "invalid_integrations", ""},
		{"binary junk", []byte{0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0x00}, "invalid_utf8", ""},
		{"text junk", []byte("GET / HTTP/1.1"), "not_json", ""},
		{"array", []byte(`[{"type":"page"}]`), "not_object", ""},
	}
	var msgs []itest.Msg
	want := map[string]int{}
	for _, h := range hostile {
		good := `{"type":"page","messageId":"good-` + h.name + `"}`
		msgs = append(msgs, itest.Msg{Key: []byte(h.name), Value: h.value}, itest.Msg{Value: []byte(good)})
		want[good+"\n"]++
		if h.reason == "" {
			want[h.record]++
		}
	}
	k.Produce(t, "events", msgs)
	cfg := testConfig(k.Brokers, "g-hostile", "events")
	cfg.Kafka.DLQTopic = "dlq"
	cfg.Memory.MaxBufferedBytes = 8 << 20 // smaller than the 20 MB message
	cfg.Kafka.FetchMaxBytes = 1 << 20     // smaller too: the broker still returns it
	start(t, cfg, fh)
	awaitCommitted(t, k, fh, "g-hostile", "events")
	if d := itest.DiffMultisets(want, itest.Multiset(fh.Records("everything"))); d != "" {
		t.Errorf("everything: %s", d)
	}
	got := map[string]string{}
	for _, r := range k.Consume(t, "dlq") {
		for _, h := range r.Headers {
			if h.Key == "dlq.reason" {
				got[string(r.Key)] = string(h.Value)
			}
		}
	}
	for _, h := range hostile {
		if h.reason != "" && got[h.name] != h.reason {
			t.Errorf("%s: dead-lettered with %q, want %q", h.name, got[h.name], h.reason)
		}
		if h.reason == "" && got[h.name] != "" {
			t.Errorf("%s: dead-lettered (%s) but should be delivered", h.name, got[h.name])
		}
	}
}

// TestRecordSizeBoundaryWithAggregation sends, to an aggregated stream, an
// event whose record (with its newline) is exactly Firehose's 1,000 KiB
// limit and one a byte larger, between small events: the first must arrive
// as a Firehose record of its own, byte for byte; the second, which no
// record can hold, goes to the dead-letter topic; the small events are
// packed around them and nothing stalls.
func TestRecordSizeBoundaryWithAggregation(t *testing.T) {
	t.Parallel()
	k := itest.StartKafkaWith(t, map[string]string{"message.max.bytes": "4194304"}, 1, "events", "dlq")
	fh := itest.StartFirehose(t)
	sized := func(n int) string { // a page event of n bytes
		const head, tail = `{"type":"page","blob":"`, `"}`
		return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
	}
	exact := sized(config.MaxRecordBytes - 1) // + '\n' = the limit
	over := sized(config.MaxRecordBytes)
	msgs := []itest.Msg{
		{Value: []byte(`{"type":"page","messageId":"a"}`)},
		{Key: []byte("exact"), Value: []byte(exact)},
		{Value: []byte(`{"type":"page","messageId":"b"}`)},
		{Key: []byte("over"), Value: []byte(over)},
		{Value: []byte(`{"type":"page","messageId":"c"}`)},
	}
	k.Produce(t, "events", msgs)
	cfg := testConfig(k.Brokers, "g-boundary", "events")
	cfg.Kafka.DLQTopic = "dlq"
	cfg.Sources[0].MappedStreams[2].Aggregate = true // "*" -> everything
	start(t, cfg, fh)
	awaitCommitted(t, k, fh, "g-boundary", "events")

	var alone int
	lines := map[string]int{}
	for _, r := range fh.Records("everything") {
		if len(r) > config.MaxRecordBytes {
			t.Fatalf("a Firehose record of %d bytes", len(r))
		}
		if string(r) == exact+"\n" {
			alone++
		}
		for _, l := range strings.SplitAfter(string(r), "\n") {
			if l != "" {
				lines[l]++
			}
		}
	}
	if alone != 1 {
		t.Errorf("the event of exactly the limit arrived alone %d times, want 1", alone)
	}
	want := map[string]int{exact + "\n": 1}
	for _, id := range []string{"a", "b", "c"} {
		want[`{"type":"page","messageId":"`+id+`"}`+"\n"] = 1
	}
	if d := itest.DiffMultisets(want, lines); d != "" {
		t.Errorf("everything: %s", d)
	}
	var dead []string
	for _, r := range k.Consume(t, "dlq") {
		for _, h := range r.Headers {
			if h.Key == "dlq.reason" {
				dead = append(dead, string(r.Key)+":"+string(h.Value))
			}
		}
	}
	if len(dead) != 1 || dead[0] != "over:record_too_large" {
		t.Errorf("dead letters %v, want [over:record_too_large]", dead)
	}
}
