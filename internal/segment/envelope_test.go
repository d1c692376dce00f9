package segment

import (
	"bytes"
	stdjson "encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "envelopes", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

// rawEnvelope is what encoding/json finds in an envelope, to check Split by.
type rawEnvelope struct {
	Batch        []stdjson.RawMessage `json:"batch"`
	SentAt       stdjson.RawMessage   `json:"sentAt"`
	Context      stdjson.RawMessage   `json:"context"`
	Integrations stdjson.RawMessage   `json:"integrations"`
}

func compactOf(t testing.TB, v []byte) []byte {
	t.Helper()
	if v == nil {
		return nil
	}
	var b bytes.Buffer
	if err := stdjson.Compact(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The bodies Segment's libraries POST to /v1/batch, each split into the
// items encoding/json finds, byte for byte, with the envelope's own members
// compacted.
func TestSplitLibraryBatchBodies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file  string
		items int
	}{
		{"node.json", 3},   // analytics-node: batch, timestamp, sentAt
		{"python.json", 3}, // analytics-python: json.dumps with ", " and ": "
		{"go.json", 2},     // analytics-go: messageId, sentAt, batch, context
		{"http-api.json", 5},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			value := fixture(t, tc.file)
			var s Splitter
			env, ok := s.Split(value)
			if !ok {
				t.Fatal("not split")
			}
			var want rawEnvelope
			if err := stdjson.Unmarshal(value, &want); err != nil {
				t.Fatal(err)
			}
			if len(env.Items) != tc.items || len(want.Batch) != tc.items {
				t.Fatalf("%d items (encoding/json: %d), want %d", len(env.Items), len(want.Batch), tc.items)
			}
			for i := range env.Items {
				if !bytes.Equal(env.Items[i], want.Batch[i]) {
					t.Errorf("item %d = %s, want %s", i, env.Items[i], want.Batch[i])
				}
			}
			for _, f := range []struct {
				name      string
				got, want []byte
			}{{"sentAt", env.SentAt, want.SentAt}, {"context", env.Context, want.Context}, {"integrations", env.Integrations, want.Integrations}} {
				if !bytes.Equal(f.got, compactOf(t, f.want)) {
					t.Errorf("%s = %s, want %s", f.name, f.got, compactOf(t, f.want))
				}
			}
		})
	}
}

func TestSplitLeavesOtherValuesAlone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		value string
		want  bool
	}{
		{"a message", `{"type":"track","event":"x"}`, false},
		{"typed with a batch member", `{"type":"track","event":"x","batch":[{"type":"page"}]}`, false},
		{"typed after the batch", `{"batch":[],"type":"identify"}`, false},
		{"batch is not an array", `{"batch":{"type":"page"}}`, false},
		{"last batch is not an array", `{"batch":[{}],"batch":"x"}`, false},
		{"no batch", `{"sentAt":"2026-01-01T00:00:00Z"}`, false},
		{"not an object", `[{"batch":[]}]`, false},
		{"empty object", `{}`, false},
		{"not JSON", `{"batch":[{"type":"page"}]`, false},
		{"trailing bytes", `{"batch":[]} {}`, false},
		{"bad UTF-8", "{\"batch\":[\"\xff\"]}", false},
		{"empty batch", `{"batch":[]}`, true},
		{"null type", `{"type":null,"batch":[{"type":"page"}]}`, true},
		{"escaped key", `{"\u0062atch":[{"type":"page"}]}`, true},
		{"spaced out", " {\n \"batch\" : [ {\"type\":\"page\"} , 1 ] \n} ", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var s Splitter
			if _, ok := s.Split([]byte(tc.value)); ok != tc.want {
				t.Fatalf("Split(%s) = %v, want %v", tc.value, ok, tc.want)
			}
		})
	}
}

// Each item is decoded as a message of its own: the bad ones say why, by
// the same reasons a Kafka value would.
func TestItemsDecodeOnTheirOwn(t *testing.T) {
	t.Parallel()
	var s Splitter
	env, ok := s.Split(fixture(t, "http-api.json"))
	if !ok {
		t.Fatal("not split")
	}
	want := []string{"", ReasonNotObject, ReasonMissingEvent, ReasonMissingType, ""}
	var d Decoder
	for i, item := range env.Items {
		_, _, err := d.Decode(item)
		got := ""
		if err != nil {
			got = err.(*Error).Reason
		}
		if got != want[i] {
			t.Errorf("item %d: reason %q, want %q", i, got, want[i])
		}
	}
}

func TestBatchIntegrationsMergeUnderTheItems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, batch, item string
		want              Integrations
	}{
		{"batch says nothing", ``, `{"type":"page","integrations":{"All":false}}`, IntegrationsDisabled},
		{"batch turns it off", `"integrations":{"Amazon Kinesis Firehose":false},`, `{"type":"page"}`, IntegrationsDisabled},
		{"item turns it back on", `"integrations":{"Amazon Kinesis Firehose":false},`, `{"type":"page","integrations":{"Amazon Kinesis Firehose":true}}`, IntegrationsDefault},
		{"batch All false", `"integrations":{"All":false},`, `{"type":"page","integrations":{}}`, IntegrationsDisabled},
		{"batch All false, item names it", `"integrations":{"All":false},`, `{"type":"page","integrations":{"Amazon Kinesis Firehose":{"x":1}}}`, IntegrationsDefault},
		{"item All true wins", `"integrations":{"All":false},`, `{"type":"page","integrations":{"All":true}}`, IntegrationsDefault},
		{"batch names it on, item All false", `"integrations":{"Amazon Kinesis Firehose":true},`, `{"type":"page","integrations":{"All":false}}`, IntegrationsDefault},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			value := `{` + tc.batch + `"batch":[` + tc.item + `]}`
			var s Splitter
			env, ok := s.Split([]byte(value))
			if !ok {
				t.Fatalf("not split: %s", value)
			}
			var d Decoder
			msg, _, err := d.Decode(env.Items[0])
			if err != nil {
				t.Fatal(err)
			}
			if got := s.BatchIntegrations(&env, env.Items[0], msg.Integrations); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMergeAddsWhatTheItemLacks(t *testing.T) {
	t.Parallel()
	var s Splitter
	env, ok := s.Split(fixture(t, "http-api.json"))
	if !ok {
		t.Fatal("not split")
	}
	var d Decoder
	record := func(i int) []byte {
		_, sc, err := d.Decode(env.Items[i])
		if err != nil {
			t.Fatal(err)
		}
		return Record(env.Items[i], sc)
	}
	const ctx = `{"device":{"type":"phone","name":"Apple iPhone 15"},"ip":"203.0.113.9"}`
	for _, tc := range []struct {
		item int
		want string
	}{
		{0, `{"type":"track","event":"Signed Up","userId":"019mr8mf4r","properties":{"plan":"Enterprise"},"timestamp":"2026-11-29T21:03:00.000Z","context":` + ctx + `,"sentAt":"2026-11-29T21:03:02.000Z"}`},
		// The item's own ip wins; the envelope's device is added.
		{4, `{"type":"identify","userId":"971mj8mk7p","traits":{"email":"jane@example.org"},"context":{"ip":"10.0.0.7","device":{"type":"phone","name":"Apple iPhone 15"}},"sentAt":"2026-11-29T21:03:02.000Z"}`},
	} {
		if got := s.Merge(nil, record(tc.item), &env); string(got) != tc.want {
			t.Errorf("item %d:\n got %s\nwant %s", tc.item, got, tc.want)
		}
	}

	// An item with its own sentAt keeps it; an envelope without context adds none.
	env2, ok := s.Split([]byte(`{"batch":[{"type":"page","sentAt":"A","context":{"ip":"1"}}],"sentAt":"B"}`))
	if !ok {
		t.Fatal("not split")
	}
	item := env2.Items[0]
	if got := s.Merge(nil, item, &env2); !bytes.Equal(got, item) {
		t.Errorf("got %s, want the item as is", got)
	}
}

func TestDefaultTypeIsAssumedAndWritten(t *testing.T) {
	t.Parallel()
	var d Decoder
	d.SetDefaultType("track")
	for _, tc := range []struct {
		value, reason string
		assumed       bool
		record        string
	}{
		{`{"event":"Signed Up","userId":"u1"}`, "", true, `{"event":"Signed Up","userId":"u1","type":"track"}`},
		{"{ \"event\" : \"Signed Up\" }", "", true, `{"event":"Signed Up","type":"track"}`},
		{`{"type":null,"event":"x"}`, "", true, `{"type":null,"event":"x","type":"track"}`},
		{`{"userId":"u1"}`, ReasonMissingEvent, true, ""},
		{`{"type":"page","name":"Home"}`, "", false, `{"type":"page","name":"Home"}`},
		{`{"type":7}`, ReasonTypeNotString, false, ""},
	} {
		msg, sc, err := d.Decode([]byte(tc.value))
		reason := ""
		if err != nil {
			reason = err.(*Error).Reason
		}
		if reason != tc.reason || msg.Assumed != tc.assumed {
			t.Errorf("%s: reason %q assumed %v, want %q %v", tc.value, reason, msg.Assumed, tc.reason, tc.assumed)
			continue
		}
		if err != nil {
			continue
		}
		if tc.assumed && (!msg.Track || string(msg.Type) != "track") {
			t.Errorf("%s: type %q track %v", tc.value, msg.Type, msg.Track)
		}
		rec := Record([]byte(tc.value), sc)
		if msg.Assumed {
			rec = AppendType(nil, rec, msg.Type)
		}
		if string(rec) != tc.record {
			t.Errorf("%s: record %s, want %s", tc.value, rec, tc.record)
		}
		if !stdjson.Valid(rec) {
			t.Errorf("record %s is not JSON", rec)
		}
	}
	d.SetDefaultType("")
	if _, _, err := d.Decode([]byte(`{"event":"x"}`)); err == nil || err.(*Error).Reason != ReasonMissingType {
		t.Errorf("without a default type: %v, want missing_type", err)
	}
}

func TestSplitDoesNotAllocateOnceWarm(t *testing.T) {
	value := fixture(t, "node.json")
	var s Splitter
	s.Split(value)
	if n := testing.AllocsPerRun(100, func() { s.Split(value) }); n != 0 {
		t.Errorf("%v allocations per Split, want 0", n)
	}
}

// FuzzSplit checks that no input panics and that Split agrees with
// encoding/json on what is an envelope and what its items are; Merge's
// output is JSON that still holds every member of the item.
func FuzzSplit(f *testing.F) {
	for _, name := range []string{"node.json", "python.json", "go.json", "http-api.json"} {
		f.Add(fixture(f, name))
	}
	for _, s := range []string{`{"batch":[]}`, `{"type":null,"batch":[1]}`, `{"batch":[{}],"batch":"x"}`,
		`{"\u0062atch":[{"type":"page"}],"context":{"a":1},"sentAt":"s"}`, `{"batch":[{"type":"page","context":{}}],"context":{"x":[]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var s Splitter
		env, ok := s.Split(in)
		var d Decoder
		_, _, derr := d.Decode(in)
		if derr != nil && derr.(*Error).Reason == ReasonTooDeep {
			return // encoding/json goes deeper than Segment's bound
		}
		var members map[string]stdjson.RawMessage
		isObj := stdjson.Unmarshal(in, &members) == nil
		typ, hasType := members["type"]
		typed := hasType && string(typ) != "null"
		var want rawEnvelope
		isEnv := utf8.Valid(in) && isObj && !typed && len(members["batch"]) > 0 && members["batch"][0] == '[' && stdjson.Unmarshal(in, &want) == nil
		if ok != isEnv {
			t.Fatalf("Split(%q) = %v, encoding/json says envelope = %v", in, ok, isEnv)
		}
		if !ok {
			return
		}
		if len(env.Items) != len(want.Batch) {
			t.Fatalf("%d items, encoding/json finds %d", len(env.Items), len(want.Batch))
		}
		for i, item := range env.Items {
			if !bytes.Equal(item, want.Batch[i]) {
				t.Fatalf("item %d = %q, want %q", i, item, want.Batch[i])
			}
			_, sc, err := d.Decode(item)
			if err != nil {
				continue
			}
			rec := Record(item, sc)
			merged := s.Merge(nil, rec, &env)
			var got, orig map[string]stdjson.RawMessage
			if err := stdjson.Unmarshal(merged, &got); err != nil {
				t.Fatalf("merged %q is not an object: %v", merged, err)
			}
			if err := stdjson.Unmarshal(rec, &orig); err != nil {
				t.Fatal(err)
			}
			for k, v := range orig {
				if k != "context" && !bytes.Equal(got[k], v) {
					t.Fatalf("merged %q changed member %q", merged, k)
				}
			}
			if env.Context == nil && env.SentAt == nil && !bytes.Equal(merged, rec) {
				t.Fatalf("nothing to merge, but %q became %q", rec, merged)
			}
			if strings.Count(string(merged), "\n") != 0 {
				t.Fatalf("merged record has a newline: %q", merged)
			}
		}
	})
}
