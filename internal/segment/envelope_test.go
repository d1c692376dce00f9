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
			var d Decoder
			env, ok := s.Split(value, &d, func(int, Item) {})
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
		{"bad UTF-8 in a member", "{\"sentAt\":\"\xff\",\"batch\":[]}", false},
		{"bad UTF-8 in an item", "{\"batch\":[\"\xff\"]}", false},
		{"syntax error in an item", `{"batch":[{"type":"page",}]}`, false},
		{"empty batch", `{"batch":[]}`, true},
		{"null type", `{"type":null,"batch":[{"type":"page"}]}`, true},
		{"escaped key", `{"\u0062atch":[{"type":"page"}]}`, true},
		{"spaced out", " {\n \"batch\" : [ {\"type\":\"page\"} , 1 ] \n} ", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var s Splitter
			var d Decoder
			if _, ok := s.Split([]byte(tc.value), &d, func(int, Item) {}); ok != tc.want {
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
	var d Decoder
	var got []string
	_, ok := s.Split(fixture(t, "http-api.json"), &d, func(i int, it Item) {
		reason := string(it.Msg.Type)
		if it.Err != nil {
			reason = it.Err.Reason
		}
		got = append(got[:i], reason)
	})
	if !ok {
		t.Fatal("not split")
	}
	want := []string{"track", ReasonNotObject, ReasonMissingEvent, ReasonMissingType, "identify"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("items decode as %q, want %q", got, want)
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
			var d Decoder
			env, ok := s.Split([]byte(value), &d, func(int, Item) {})
			if !ok {
				t.Fatalf("not split: %s", value)
			}
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
	var d Decoder
	env, ok := s.Split(fixture(t, "http-api.json"), &d, func(int, Item) {})
	if !ok {
		t.Fatal("not split")
	}
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
	env2, ok := s.Split([]byte(`{"batch":[{"type":"page","sentAt":"A","context":{"ip":"1"}}],"sentAt":"B"}`), &d, func(int, Item) {})
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
	var d Decoder
	types := 0
	count := func(_ int, it Item) { types += len(it.Msg.Type) }
	s.Split(value, &d, count)
	if n := testing.AllocsPerRun(100, func() { s.Split(value, &d, count) }); n != 0 {
		t.Errorf("%v allocations per Split, want 0", n)
	}
}

// isEnvelopeText is encoding/json's view: a valid object whose "batch" is an
// array and whose "type" is absent or null.
func isEnvelopeText(in []byte) bool {
	var members map[string]stdjson.RawMessage
	if !utf8.Valid(in) || stdjson.Unmarshal(in, &members) != nil {
		return false
	}
	typ, hasType := members["type"]
	return !(hasType && string(typ) != "null") && len(members["batch"]) > 0 && members["batch"][0] == '['
}

// FuzzSplit checks that no input panics and that Split, with its items
// decoded, agrees with encoding/json on what is an envelope and what its
// items are; Merge's output is JSON that still holds every member of the
// item.
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
		var d, whole Decoder
		// What the split decoded of each item, to compare with Decode.
		type seen struct {
			typ, event, reason string
			compact            bool
		}
		var items []seen
		env, ok := s.Split(in, &d, func(i int, it Item) {
			x := seen{typ: string(it.Msg.Type), event: string(it.Msg.Event), compact: it.Scan.Compact}
			if it.Err != nil {
				x = seen{reason: it.Err.Reason}
			}
			items = append(items[:i], x)
		})
		if Probe(in) && !bytes.Contains(in, []byte(`"batch"`)) {
			t.Fatalf("Probe accepted %q, which has no batch member", in)
		}
		_, _, derr := whole.Decode(in)
		if derr != nil && derr.(*Error).Reason == ReasonTooDeep {
			return // encoding/json goes deeper than Segment's bound
		}
		// Members by exact name, as Segment reads them (a struct would
		// match "bAtch" too).
		var members map[string]stdjson.RawMessage
		var want rawEnvelope
		isEnv := isEnvelopeText(in) && stdjson.Unmarshal(in, &members) == nil && stdjson.Unmarshal(members["batch"], &want.Batch) == nil
		if ok != isEnv {
			t.Fatalf("Split(%q) = %v, encoding/json says envelope = %v", in, ok, isEnv)
		}
		if !ok {
			return
		}
		if len(env.Items) != len(want.Batch) {
			t.Fatalf("%d items, encoding/json finds %d", len(env.Items), len(want.Batch))
		}
		if len(items) != len(env.Items) {
			t.Fatalf("each saw %d items of %d", len(items), len(env.Items))
		}
		for i, item := range env.Items {
			if !bytes.Equal(item, want.Batch[i]) {
				t.Fatalf("item %d = %q, want %q", i, item, want.Batch[i])
			}
			msg, sc, err := d.Decode(item)
			alone := seen{typ: string(msg.Type), event: string(msg.Event), compact: sc.Compact}
			if err != nil {
				alone = seen{reason: err.(*Error).Reason}
			}
			if alone != items[i] {
				t.Fatalf("item %d %q: split decoded %+v, Decode %+v", i, item, items[i], alone)
			}
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

func TestProbeLooksOnlyAtTheFirstBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value string
		want  bool
	}{
		{`{"batch":[]}`, true},
		{"{ \"batch\" : [", true},
		{`{"messageId":"m1","sentAt":"2026-11-30T11:20:45.331Z","batch":[{}]}`, true}, // analytics-go
		{`{"type":"track","batch":[]}`, false},
		{`{"anonymousId":"a1","context":{"ip":"1"},"type":"page"}`, false},
		{`{"context":{},"batch":[]}`, false}, // an envelope still: Decode, then Split
		{`{"batch":{}}`, false},
		{`{"n":1,"batch":[`, false}, // not a member the libraries write first
		{`{"timestamp":"2026-11-30T09:14:05.250Z","writeKey":"k","batch":[`, true},
		{`{"sentAt":5,"batch":[]}`, false},
		{`{"\u0062atch":[]}`, false},
		{`[{"batch":[]}]`, false},
		{``, false},
		{`{"t`, false},
		{`"t`, false},
	} {
		if got := Probe([]byte(tc.value)); got != tc.want {
			t.Errorf("Probe(%s) = %v, want %v", tc.value, got, tc.want)
		}
	}
}

func TestSplitFindsItemsOfAnyShape(t *testing.T) {
	t.Parallel()
	value := `{"batch":[ 1 ,"a\"]}",[{"x":"}"}],{"type":"page","s":"\\"},-2.5e3,null,true ]}`
	want := []string{`1`, `"a\"]}"`, `[{"x":"}"}]`, `{"type":"page","s":"\\"}`, `-2.5e3`, `null`, `true`}
	var s Splitter
	var d Decoder
	env, ok := s.Split([]byte(value), &d, func(int, Item) {})
	if !ok || len(env.Items) != len(want) {
		t.Fatalf("ok %v, %d items, want %d", ok, len(env.Items), len(want))
	}
	for i := range want {
		if string(env.Items[i]) != want[i] {
			t.Errorf("item %d = %s, want %s", i, env.Items[i], want[i])
		}
	}
	for _, bad := range []string{`{"batch":[1,]}`, `{"batch":[,1]}`, `{"batch":["a]}`, `{"batch":[{"a":1}`, `{"batch":[1 2]}`} {
		if _, ok := s.Split([]byte(bad), &d, func(int, Item) {}); ok {
			t.Errorf("Split(%s) succeeded", bad)
		}
	}
}
