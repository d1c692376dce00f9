package eventgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

type batchBody struct {
	Batch   []json.RawMessage `json:"batch"`
	SentAt  string            `json:"sentAt"`
	Context json.RawMessage   `json:"context"`
}

func TestEnvelopesHoldTheSourcesMessagesInOrder(t *testing.T) {
	t.Parallel()
	opts := DefaultOptions()
	env := NewEnvelopes(New(opts), 20)
	alone := New(opts)
	for range 3 {
		value, key, info, err := env.NextMessage(nil)
		if err != nil {
			t.Fatal(err)
		}
		var body batchBody
		if err := json.Unmarshal(value, &body); err != nil {
			t.Fatalf("envelope is not JSON: %v\n%s", err, value)
		}
		if len(body.Batch) != 20 || body.SentAt == "" || !bytes.Contains(body.Context, []byte(`"library"`)) {
			t.Fatalf("envelope has %d messages, sentAt %q, context %s", len(body.Batch), body.SentAt, body.Context)
		}
		for i, item := range body.Batch {
			want, wantKey, wantInfo := alone.Next(nil)
			if !bytes.Equal(item, bytes.TrimSpace(want)) {
				t.Fatalf("item %d = %s, want %s", i, item, want)
			}
			if i == 0 && (string(key) != string(wantKey) || info.Type != wantInfo.Type) {
				t.Errorf("key %q type %q, want the first message's %q %q", key, info.Type, wantKey, wantInfo.Type)
			}
		}
	}
}

func TestEnvelopesEndWithTheSource(t *testing.T) {
	t.Parallel()
	lines := `{"type":"page","userId":"a"}` + "\n" + `{"type":"track","event":"x","userId":"b"}` + "\n" + `{"type":"identify","userId":"c"}` + "\n"
	env := NewEnvelopes(NewReplay(strings.NewReader(lines)), 2)
	var got []string
	for {
		value, _, _, err := env.NextMessage(nil)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(value))
	}
	want := []string{
		`{"batch":[{"type":"page","userId":"a"},{"type":"track","event":"x","userId":"b"}],` + envelopeLibrary + `}`,
		`{"batch":[{"type":"identify","userId":"c"}],` + envelopeLibrary + `}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
