package segment

import (
	"bytes"
	stdjson "encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeFrame checks that no input panics, that accepted messages are
// valid UTF-8 JSON objects with a string type, and that the framed record is
// exactly encoding/json's compaction plus one newline.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"track","event":"Order Completed","properties":{"a":[1,2,{"b":null}]}}`,
		"{\n \"type\" : \"page\" ,\n \"name\":\"x\"}",
		`{"type":"identify","traits":{"n":123456789012345678901234567890,"f":-0.0e-5}}`,
		`{"type":"page","integrations":{"All":false,"Amazon Kinesis Firehose":{"k":1}}}`,
		`{"type":"track","event":"\u00e9\"\\","s":"\ud83c\udf89"}`,
		`{"type":1}`, `[]`, `nul`, "", "\xff", `{"type":"a"}{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var d Decoder
		msg, sc, err := d.Decode(in)
		checkSyntaxVerdict(t, in, err)
		if err != nil {
			return
		}
		if !utf8.Valid(in) || !stdjson.Valid(in) {
			t.Fatalf("accepted invalid input %q", in)
		}
		if len(msg.Type) == 0 && !bytes.Contains(in, []byte(`"type"`)) {
			t.Fatalf("no type in %q", in)
		}
		rec := AppendRecord(nil, in, sc)
		var want bytes.Buffer
		if err := stdjson.Compact(&want, in); err != nil {
			t.Fatal(err)
		}
		want.WriteByte('\n')
		if !bytes.Equal(rec, want.Bytes()) {
			t.Fatalf("record %q, want %q", rec, want.Bytes())
		}
		if bytes.IndexByte(rec, '\n') != len(rec)-1 {
			t.Fatalf("record has a newline before its end: %q", rec)
		}
	})
}

// checkSyntaxVerdict holds Decode's syntax checks to encoding/json's: a value
// is refused as not JSON, bad UTF-8 or too deep exactly when encoding/json
// and utf8.Valid refuse it or it nests deeper than MaxDepth.
func checkSyntaxVerdict(t *testing.T, in []byte, err error) {
	t.Helper()
	if err != nil {
		if _, ok := err.(*Error); !ok {
			t.Fatalf("error of type %T: %v", err, err)
		}
	}
	var reason string
	if se, ok := err.(*Error); ok {
		reason = se.Reason
	}
	valid := utf8.Valid(in) && stdjson.Valid(in)
	switch reason {
	case ReasonNotJSON, ReasonInvalidUTF8:
		if valid {
			t.Fatalf("refused %q as %s; encoding/json accepts it", in, reason)
		}
		if reason == ReasonInvalidUTF8 && utf8.Valid(in) {
			t.Fatalf("refused valid UTF-8 %q as %s", in, reason)
		}
	case ReasonTooDeep:
		if depth(in) <= MaxDepth {
			t.Fatalf("refused %q as too deep", in)
		}
	case ReasonEmpty:
		if len(bytes.TrimSpace(in)) != 0 {
			t.Fatalf("refused %q as empty", in)
		}
	default:
		if !valid {
			t.Fatalf("accepted or routed %q (reason %q); encoding/json or utf8 refuses it", in, reason)
		}
	}
}

// depth is the deepest nesting in a valid JSON text, by encoding/json's
// tokenizer.
func depth(in []byte) int {
	dec := stdjson.NewDecoder(bytes.NewReader(in))
	d, most := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return most
		}
		switch tok {
		case stdjson.Delim('{'), stdjson.Delim('['):
			d++
			most = max(most, d)
		case stdjson.Delim('}'), stdjson.Delim(']'):
			d--
		}
	}
}
