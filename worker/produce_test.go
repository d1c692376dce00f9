package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firehose-worker/firehose-worker/internal/itest"
)

// TestProduceGeneratesKeyedSegmentMessages: --count messages reach the
// topic, each a Segment message with a unique messageId, keyed by its
// userId (anonymousId when it has none), and the summary line says so.
func TestProduceGeneratesKeyedSegmentMessages(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 4, "events")
	var out, errb bytes.Buffer
	code := cli(context.Background(), []string{"produce", "--brokers", k.Brokers[0], "--topic", "events", "--count", "400", "--seed", "7"}, &out, &errb)
	if code != 0 {
		t.Fatalf("produce = %d: %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "produced 400 messages (") || !strings.Contains(out.String(), "to events in") || !strings.Contains(out.String(), "seed 7") {
		t.Errorf("summary line %q", out.String())
	}
	recs := k.Consume(t, "events")
	if len(recs) != 400 {
		t.Fatalf("topic holds %d messages, want 400", len(recs))
	}
	ids := map[string]bool{}
	types := map[string]int{}
	for _, r := range recs {
		var m struct {
			Type        string `json:"type"`
			MessageID   string `json:"messageId"`
			UserID      string `json:"userId"`
			AnonymousID string `json:"anonymousId"`
		}
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatalf("not JSON: %q", r.Value)
		}
		if m.MessageID == "" || ids[m.MessageID] {
			t.Errorf("messageId %q is empty or repeated", m.MessageID)
		}
		ids[m.MessageID] = true
		types[m.Type]++
		want := m.UserID
		if want == "" {
			want = m.AnonymousID
		}
		if string(r.Key) != want {
			t.Errorf("%s keyed %q, want its userId/anonymousId %q", m.MessageID, r.Key, want)
		}
	}
	if types["track"] == 0 || types["page"] == 0 || types["identify"] == 0 {
		t.Errorf("call types %v lack track, page or identify", types)
	}
}

// TestProduceReplaysAFileUnkeyed: --replay sends each line as it is, in
// order, and --key none leaves the key empty.
func TestProduceReplaysAFileUnkeyed(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "replayed")
	lines := []string{
		`{"type":"track","event":"Order Completed","userId":"u1","messageId":"r-1"}`,
		`{"type":"page","anonymousId":"a1","messageId":"r-2","name":"Home"}`,
		`{"type":"identify","userId":"u2","messageId":"r-3","traits":{"plan":"pro"}}`,
	}
	file := filepath.Join(t.TempDir(), "events.ndjson")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := cli(context.Background(), []string{"produce", "--brokers", k.Brokers[0], "--topic", "replayed", "--replay", file, "--key", "none"}, &out, &errb)
	if code != 0 {
		t.Fatalf("produce --replay = %d: %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "produced 3 messages") || !strings.Contains(out.String(), "replayed from "+file) {
		t.Errorf("summary line %q", out.String())
	}
	recs := k.Consume(t, "replayed")
	if len(recs) != len(lines) {
		t.Fatalf("topic holds %d messages, want %d", len(recs), len(lines))
	}
	for i, r := range recs {
		if string(r.Value) != lines[i] || len(r.Key) != 0 {
			t.Errorf("message %d: key %q value %q, want no key and %q", i, r.Key, r.Value, lines[i])
		}
	}
}

func TestProduceFailsClearly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"--bogus"}, 2, "flag provided but not defined"},
		{"bad key", []string{"--key", "group"}, 2, "--key must be user or none"},
		{"seed with replay", []string{"--replay", "x.ndjson", "--seed", "3"}, 2, "--seed has no effect with --replay"},
		{"negative rate", []string{"--rate", "-1"}, 2, "rate -1 is negative"},
		{"missing file", []string{"--replay", "/nonexistent/x.ndjson"}, 1, "no such file"},
		{"broker down", []string{"--brokers", "127.0.0.1:1", "--count", "3"}, 1, "not acknowledged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			code := cli(context.Background(), append([]string{"produce"}, tc.args...), &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("produce %q = %d, stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.want)
			}
		})
	}
}
