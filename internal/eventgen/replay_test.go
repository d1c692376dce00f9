package eventgen

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestReplayGolden(t *testing.T) {
	values, infos, keys := generate(t, Options{Seed: 42}, 100)
	f, err := os.Open(filepath.Join("testdata", "seed42.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewReplay(f)
	var v []byte
	for i := range values {
		var key []byte
		var info Info
		v, key, info, err = r.NextMessage(v[:0])
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(v, values[i]) || !bytes.Equal(key, keys[i]) || !reflect.DeepEqual(info, infos[i]) {
			t.Fatalf("message %d: replay gave %q %+v\nwant %q %+v", i, key, info, keys[i], infos[i])
		}
	}
	if _, _, _, err := r.NextMessage(nil); err != io.EOF {
		t.Fatalf("after the last line: %v, want io.EOF", err)
	}
}

func TestReplayLenient(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "mixed.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewReplay(f)
	want := []struct {
		key  string
		info Info
	}{
		{"u1", Info{Type: Track, Event: "Order Completed", UserID: "u1", MessageID: []byte("m1")}},
		// A numeric userId is its text.
		{"42", Info{Type: Identify, UserID: "42", MessageID: []byte("m2"), BigNumbers: true}},
		{"a1", Info{Type: Page, Name: "Home", AnonymousID: "a1", MessageID: []byte("m3"), FirehoseDisabled: true}},
	}
	for i, w := range want {
		_, key, info, err := r.NextMessage(nil)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(key) != w.key || !reflect.DeepEqual(info, w.info) {
			t.Errorf("message %d: got key %q %+v, want %q %+v", i, key, info, w.key, w.info)
		}
	}
	if _, _, _, err := r.NextMessage(nil); err != io.EOF {
		t.Fatalf("after the last line: %v, want io.EOF", err)
	}
}

func TestReplayErrors(t *testing.T) {
	for _, tc := range []struct{ input, want string }{
		{"{}\n[1]\n", "line 2: not a JSON object"},
		{"\n\n{\"a\":\n", "line 3: invalid JSON"},
	} {
		r := NewReplay(strings.NewReader(tc.input))
		var err error
		for err == nil {
			_, _, _, err = r.NextMessage(nil)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.input, err, tc.want)
		}
	}
}

func TestFirehoseDisabled(t *testing.T) {
	for _, tc := range []struct {
		integrations string
		want         bool
	}{
		{`{"type":"track"}`, false},
		{`{"integrations":{}}`, false},
		{`{"integrations":{"All":true}}`, false},
		{`{"integrations":{"All":false}}`, true},
		{`{"integrations":{"All":false,"Amazon Kinesis Firehose":true}}`, false},
		{`{"integrations":{"All":false,"Amazon Kinesis Firehose":{"stream":"x"}}}`, false},
		{`{"integrations":{"Amazon Kinesis Firehose":false}}`, true},
		{`{"integrations":{"All":true,"Amazon Kinesis Firehose":false}}`, true},
	} {
		var p Replay
		info, err := p.describe([]byte(tc.integrations))
		if err != nil {
			t.Fatal(err)
		}
		if info.FirehoseDisabled != tc.want {
			t.Errorf("%s: FirehoseDisabled %v, want %v", tc.integrations, info.FirehoseDisabled, tc.want)
		}
	}
}

func TestReplayOddTypes(t *testing.T) {
	var p Replay
	info, err := p.describe([]byte(`{"type":"track","event":7,"timestamp":12,"userId":true,"anonymousId":null,"integrations":[],"context":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Info{Type: Track}); !reflect.DeepEqual(info, want) {
		t.Errorf("got %+v, want %+v", info, want)
	}
}

func TestReplayTimes(t *testing.T) {
	var p Replay
	info, err := p.describe([]byte(`{"timestamp":"2024-06-01T12:00:00.123Z","receivedAt":"2024-06-01T12:00:00.123456+00:00"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2024, 6, 1, 12, 0, 0, 123_000_000, time.UTC)
	if !info.Timestamp.Equal(want) || !info.ReceivedAt.Equal(want.Add(456*time.Microsecond)) {
		t.Errorf("got %v and %v", info.Timestamp, info.ReceivedAt)
	}
}
