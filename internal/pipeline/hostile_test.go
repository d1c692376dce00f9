package pipeline_test

import (
	"strings"
	"testing"

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
