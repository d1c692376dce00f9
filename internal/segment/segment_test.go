package segment

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/firehose-worker/firehose-worker/internal/eventgen"
)

func TestDecodeFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		typ      string
		event    string
		hasEvent bool
		integ    Integrations
	}{
		{"track", `{"type":"track","event":"Order Completed","properties":{"revenue":12.5}}`, "track", "Order Completed", true, IntegrationsDefault},
		{"escaped event", `{"type":"track","event":"Caf\u00e9 \"Visited\""}`, "track", `Café "Visited"`, true, IntegrationsDefault},
		{"page", `{"type":"page","name":"Home"}`, "page", "", false, IntegrationsDefault},
		{"keys are case-sensitive", `{"Type":"nope","type":"identify","Event":"x"}`, "identify", "", false, IntegrationsDefault},
		{"escaped key", `{"\u0074ype":"page","ev\u0065nt":"x"}`, "page", "x", true, IntegrationsDefault},
		{"nested type is not the type", `{"properties":{"type":"track","event":"x"},"type":"page"}`, "page", "", false, IntegrationsDefault},
		{"duplicate keys: last wins", `{"type":"page","type":"screen"}`, "screen", "", false, IntegrationsDefault},
		{"destination off", `{"type":"page","integrations":{"Amazon Kinesis Firehose":false}}`, "page", "", false, IntegrationsDisabled},
		{"All off", `{"type":"page","integrations":{"All":false}}`, "page", "", false, IntegrationsDisabled},
		{"All off, destination on", `{"type":"page","integrations":{"All":false,"Amazon Kinesis Firehose":true}}`, "page", "", false, IntegrationsDefault},
		{"All off, destination settings object", `{"type":"page","integrations":{"All":false,"Amazon Kinesis Firehose":{"x":1}}}`, "page", "", false, IntegrationsDefault},
		{"other destination off", `{"type":"page","integrations":{"Mixpanel":false}}`, "page", "", false, IntegrationsDefault},
		{"integrations key case matters", `{"type":"page","integrations":{"amazon kinesis firehose":false}}`, "page", "", false, IntegrationsDefault},
		{"null integrations", `{"type":"page","integrations":null}`, "page", "", false, IntegrationsDefault},
		{"big numbers are fine", `{"type":"track","event":"n","v":123456789012345678901234567890,"w":1e400}`, "track", "n", true, IntegrationsDefault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d Decoder
			m, _, err := d.Decode([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Type) != tt.typ || string(m.Event) != tt.event || m.HasEvent != tt.hasEvent || m.Integrations != tt.integ {
				t.Errorf("got type=%q event=%q has=%v integ=%v", m.Type, m.Event, m.HasEvent, m.Integrations)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	deepObj := `{"type":"page","p":` + strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth) + "}"
	tests := []struct {
		name   string
		in     []byte
		reason string
	}{
		{"empty", nil, ReasonEmpty},
		{"blank", []byte("  \n"), ReasonEmpty},
		{"invalid utf-8", []byte("{\"type\":\"page\",\"n\":\"\xff\xfe\"}"), ReasonInvalidUTF8},
		{"binary junk", []byte{0x00, 0x01, 0x02, 0x7f}, ReasonNotJSON},
		{"not json", []byte("hello"), ReasonNotJSON},
		{"starts like null", []byte("not json"), ReasonNotJSON},
		{"starts like a number", []byte("1 2"), ReasonNotJSON},
		{"truncated", []byte(`{"type":"page","name":"x`), ReasonNotJSON},
		{"trailing garbage", []byte(`{"type":"page"} {}`), ReasonNotJSON},
		{"invalid deep inside", []byte(`{"type":"page","p":{"a":[1,2,}]}}`), ReasonNotJSON},
		{"array", []byte(`[{"type":"page"}]`), ReasonNotObject},
		{"string", []byte(`"page"`), ReasonNotObject},
		{"number", []byte(`42`), ReasonNotObject},
		{"deep arrays", []byte(deep), ReasonNotObject},
		{"deep arrays in an object", []byte(`{"type":"page","a":` + deep + `}`), ReasonTooDeep},
		{"deep object", []byte(deepObj), ReasonTooDeep},
		{"no type", []byte(`{"event":"x"}`), ReasonMissingType},
		{"null type", []byte(`{"type":null}`), ReasonMissingType},
		{"numeric type", []byte(`{"type":7}`), ReasonTypeNotString},
		{"object type", []byte(`{"type":{"a":1}}`), ReasonTypeNotString},
		{"numeric event", []byte(`{"type":"track","event":1}`), ReasonEventNotString},
		{"track without event", []byte(`{"type":"track"}`), ReasonMissingEvent},
		{"track with null event", []byte(`{"type":"Track","event":null}`), ReasonMissingEvent},
		{"integrations array", []byte(`{"type":"page","integrations":[]}`), ReasonInvalidIntegrations},
		{"integrations string", []byte(`{"type":"page","integrations":"All"}`), ReasonInvalidIntegrations},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d Decoder
			_, _, err := d.Decode(tt.in)
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("Decode = %v, want *Error", err)
			}
			if se.Reason != tt.reason {
				t.Errorf("reason = %q (%s), want %q", se.Reason, se.Detail, tt.reason)
			}
		})
	}
}

func TestErrorsQuoteNoContent(t *testing.T) {
	t.Parallel()
	var d Decoder
	_, _, err := d.Decode([]byte(`{"type":"page","email":"secret@example.com",}`))
	if err == nil || strings.Contains(err.Error(), "secret@example.com") {
		t.Errorf("error %v should exist and not quote the message", err)
	}
}

func TestAppendRecord(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"compact stays byte for byte", `{"type":"page","b":1,"a":2}`, `{"type":"page","b":1,"a":2}`},
		{"pretty is compacted, key order kept", "{\n  \"type\": \"page\",\n  \"z\": [1, 2],\n  \"a\": {\"k\" : \"v w\"}\n}\n", `{"type":"page","z":[1,2],"a":{"k":"v w"}}`},
		{"number text kept", `{"type":"track","event":"e", "n": 1.50e+10, "big": 123456789012345678901234567890, "neg": -0.0}`, `{"type":"track","event":"e","n":1.50e+10,"big":123456789012345678901234567890,"neg":-0.0}`},
		{"escapes kept", `{"type":"screen", "s": "a\u00e9\n\"<>&\u2028"}`, `{"type":"screen","s":"a\u00e9\n\"<>&\u2028"}`},
		{"raw unicode kept", `{"type":"page", "s": "日本 🎉"}`, `{"type":"page","s":"日本 🎉"}`},
		{"whitespace inside strings kept", "{\"type\":\"page\",\"s\":\" a\\tb \"}", "{\"type\":\"page\",\"s\":\" a\\tb \"}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d Decoder
			_, sc, err := d.Decode([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got := AppendRecord([]byte("prefix:"), []byte(tt.in), sc)
			if want := "prefix:" + tt.want + "\n"; string(got) != want {
				t.Errorf("AppendRecord =\n%s\nwant\n%s", got, want)
			}
			if bytes.Count(got, []byte("\n")) != 1 {
				t.Errorf("record must hold exactly one newline, at its end: %q", got)
			}
		})
	}
}

func TestDecodeAllocations(t *testing.T) {
	var d Decoder
	in := []byte(`{"type":"track","event":"Order Completed","messageId":"m1","properties":{"revenue":12.5,"products":[{"id":"a"}]},"integrations":{"All":true}}`)
	buf := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(1000, func() {
		_, sc, err := d.Decode(in)
		if err != nil {
			t.Fatal(err)
		}
		buf = AppendRecord(buf[:0], in, sc)
	})
	if allocs > 0 {
		t.Errorf("decode+frame allocates %.1f times per message", allocs)
	}
}

func BenchmarkDecodeFrame(b *testing.B) {
	var d Decoder
	in := []byte(`{"anonymousId":"a1b2","context":{"library":{"name":"analytics.js","version":"4.1.0"},"page":{"path":"/checkout","url":"https://example.com/checkout"},"userAgent":"Mozilla/5.0"},"event":"Order Completed","integrations":{},"messageId":"ajs-1234","properties":{"order_id":"50314b8e","total":27.5,"revenue":25,"currency":"USD","products":[{"product_id":"507f1f77","sku":"45790-32","name":"Monopoly","price":19,"quantity":1}]},"receivedAt":"2026-11-25T10:00:00.000Z","sentAt":"2026-11-25T10:00:00.000Z","timestamp":"2026-11-25T10:00:00.000Z","type":"track","userId":"u-97980","version":2}`)
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		_, sc, err := d.Decode(in)
		if err != nil {
			b.Fatal(err)
		}
		buf = AppendRecord(buf[:0], in, sc)
	}
}

// BenchmarkDecodeGenerated decodes the generator's mix of messages (~1 KB,
// ~70 strings each, keys included), what the worker's consume-only row
// decodes; instruction counts under callgrind are its repeatable figure.
func BenchmarkDecodeGenerated(b *testing.B) {
	g := eventgen.New(eventgen.DefaultOptions())
	vals := make([][]byte, 2000)
	total := 0
	for i := range vals {
		vals[i], _, _ = g.Next(nil)
		total += len(vals[i])
	}
	var d Decoder
	b.SetBytes(int64(total / len(vals)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, err := d.Decode(vals[i%len(vals)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestSyntaxMatchesEncodingJSON runs the edge cases of JSON syntax through
// Decode and holds its verdict to encoding/json's.
func TestSyntaxMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	values := []string{
		`0`, `-0`, `-`, `01`, `1.`, `.5`, `1.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-1.0e10`, `+1`, `0x10`, `1.5.5`,
		`true`, `false`, `null`, `tru`, `nul`, `True`, `NaN`, `Infinity`,
		`""`, `"a\"b"`, `"\u00e9"`, `"\u00G9"`, `"\u00e"`, `"\x41"`, `"\/"`, `"\b\f\n\r\t"`, `"\'"`, "\"tab\there\"", "\"nl\nhere\"",
		`"\ud800"`, `"\udc00\ud800"`, "\"\u2028\"", "\"\x7f\"", "\"日本\"", "\"\xc3\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
		`[]`, `[1,]`, `[,1]`, `[1 2]`, `{}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,"a":1}`, `{"a":1 "b":2}`, `{1:2}`, `{"a":1}}`, `[[[]]]`, `[[[]]`,
		"[ 1 , 2 ]", "{ \"a\" : [ true , null ] }", "\t{\"a\":1}\r\n",
		`"abcdefgh"`, `"abcdefg\"hij"`, `"abcdefghijklmnop\\"`, `"abcdefghijklmno\\\"pq"`, `"abcdefghijklmnop`,
	}
	for _, v := range values {
		for _, in := range []string{
			`{"type":"page","v":` + v + `}`,
			`{"type":"page","v":[` + v + `,` + v + `]}`,
			`{"type":"page",` + v + `:1}`,
			v,
		} {
			var d Decoder
			_, _, err := d.Decode([]byte(in))
			checkSyntaxVerdict(t, []byte(in), err)
		}
	}
}

func TestRecordIsTheCompactValueItself(t *testing.T) {
	t.Parallel()
	var d Decoder
	compact := []byte(`{"type":"page","n":1}`)
	_, sc, err := d.Decode(compact)
	if err != nil {
		t.Fatal(err)
	}
	rec := Record(compact, sc)
	if string(rec) != string(compact) || &rec[0] != &compact[0] || cap(rec) != len(rec) {
		t.Errorf("a compact value must be its own record, not a copy, and closed to appends")
	}
	pretty := []byte("{ \"type\": \"page\",\n \"n\": 1 }\n")
	_, sc, err = d.Decode(pretty)
	if err != nil {
		t.Fatal(err)
	}
	if rec := Record(pretty, sc); string(rec) != `{"type":"page","n":1}` || cap(rec) != len(rec) {
		t.Errorf("Record(pretty) = %q, want the compaction without a newline", rec)
	}
}

// The parser tracks which containers are objects in a bit stack of 64-bit
// words; the fuzzer seldom nests past the first word. Mixed nesting up to
// MaxDepth must be accepted, and a closer that does not match its opener
// refused, at every depth, both sides of each word boundary included.
func TestMixedNestingAcrossDepths(t *testing.T) {
	t.Parallel()
	nest := func(n int) (open, close string) {
		var o, c strings.Builder
		for k := 1; k < n; k++ { // the message itself is depth 1
			if k%3 == 0 {
				o.WriteString(`[1,`)
				c.WriteString(`]`)
			} else {
				o.WriteString(`{"k":`)
				c.WriteString(`}`)
			}
		}
		cl := []byte(c.String())
		slices.Reverse(cl)
		return o.String(), string(cl)
	}
	for _, n := range []int{2, 63, 64, 65, 66, 127, 128, 129, MaxDepth - 1, MaxDepth} {
		o, c := nest(n)
		var d Decoder
		in := `{"type":"page","a":` + o + `true` + c + `,"event":"x"}`
		msg, _, err := d.Decode([]byte(in))
		if err != nil || string(msg.Type) != "page" || string(msg.Event) != "x" {
			t.Fatalf("depth %d: Decode = %q, %q, %v; want page, x, nil", n, msg.Type, msg.Event, err)
		}
		if n < 3 {
			continue
		}
		// Swap the innermost closer for the other kind.
		bad := []byte(c)
		if bad[0] == '}' {
			bad[0] = ']'
		} else {
			bad[0] = '}'
		}
		in = `{"type":"page","a":` + o + `true` + string(bad) + `}`
		var se *Error
		if _, _, err := d.Decode([]byte(in)); !errors.As(err, &se) || se.Reason != ReasonNotJSON {
			t.Errorf("depth %d, mismatched closer: Decode = %v, want %s", n, err, ReasonNotJSON)
		}
	}
	o, c := nest(MaxDepth + 1)
	var se *Error
	var d Decoder
	if _, _, err := d.Decode([]byte(`{"type":"page","a":` + o + `true` + c + `}`)); !errors.As(err, &se) || se.Reason != ReasonTooDeep {
		t.Errorf("depth %d: Decode = %v, want %s", MaxDepth+1, err, ReasonTooDeep)
	}
}
