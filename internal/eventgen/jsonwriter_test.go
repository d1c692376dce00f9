package eventgen

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// decodedAs returns what encoding/json reads from a JSON string holding s:
// s itself, with each invalid UTF-8 byte replaced by U+FFFD.
func decodedAs(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += size
	}
	return b.String()
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "new\nline\ttab\r", "\x00\x01\x1f\x7f",
		"café", "東京", "🚀 emoji", "\u2028\u2029", "\xff\xfe invalid", "a\xc3", "12345678\"abcdefgh",
		"\uFFFD replacement", strings.Repeat("x", 100) + "\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, ascii := range []bool{false, true} {
			out := appendJSONString(nil, s, ascii)
			var got string
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("ascii=%v: %q gave invalid JSON %s: %v", ascii, s, out, err)
			}
			if want := decodedAs(s); got != want {
				t.Fatalf("ascii=%v: %q came back as %q", ascii, want, got)
			}
			if ascii {
				for _, c := range out {
					if c >= utf8.RuneSelf {
						t.Fatalf("ascii output has byte %#x: %s", c, out)
					}
				}
			}
		}
	})
}

func TestPlain8(t *testing.T) {
	for c := range 256 {
		for pos := range 8 {
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			want := true
			for _, x := range b {
				want = want && plainASCII[x]
			}
			if got := plain8(string(b)); got != want {
				t.Fatalf("plain8(%q) = %v, want %v", b, got, want)
			}
		}
	}
}

func TestJSONWriterPretty(t *testing.T) {
	w := jsonWriter{pretty: true}
	w.beginObject()
	w.kstr("a", "x")
	w.key("b")
	w.beginArray()
	w.int(1)
	w.beginObject()
	w.endObject()
	w.beginArray()
	w.endArray()
	w.endArray()
	w.key("c")
	w.beginObject()
	w.kbool("d", true)
	w.key("e")
	w.null()
	w.endObject()
	w.endObject()
	want := `{
  "a": "x",
  "b": [
    1,
    {},
    []
  ],
  "c": {
    "d": true,
    "e": null
  }
}`
	if string(w.b) != want {
		t.Errorf("got\n%s\nwant\n%s", w.b, want)
	}
}

func TestJSONWriterNumbers(t *testing.T) {
	w := jsonWriter{}
	w.beginArray()
	for _, c := range []int64{0, 1, 50, 1999, 2000, 123456789} {
		w.cents(c)
	}
	w.float(2.625)
	w.raw("-0.0")
	w.raw("12345678901234567890")
	w.endArray()
	want := `[0,0.01,0.5,19.99,20,1234567.89,2.625,-0.0,12345678901234567890]`
	if string(w.b) != want {
		t.Errorf("got %s, want %s", w.b, want)
	}
}
