//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/firehose-worker/firehose-worker/internal/eventgen"
)

// row is one "event -> stream" mapping row of a source, with the stream's
// full (per-run) name.
type row struct {
	Event  string
	Stream string
}

// draft is a message before it is produced.
type draft struct {
	key, value []byte
	// info is the generator's description, nil for hand-written messages;
	// expect cross-checks it against its own reading of the value.
	info *eventgen.Info
}

// expectation is what the routing rules say must reach Firehose for one
// message: record (the value compacted like encoding/json.Compact, plus
// '\n') once in each of streams. A message that must not be delivered has
// no streams.
type expectation struct {
	record  string
	streams []string
	skipped string // why nothing is delivered, for messages with no streams
}

// expect applies the destination's rules to value, independently of the
// worker's code:
//   - a message whose integrations object has "Amazon Kinesis Firehose":
//     false, or "All": false without "Amazon Kinesis Firehose": true, is
//     not delivered; neither is one that is not a JSON object with a string
//     "type";
//   - a track matches rows whose event equals its event name, and every
//     message matches rows equal to its type, both case-insensitively; "*"
//     matches all;
//   - the message goes to every distinct matching stream once.
func expect(value []byte, rows []row) expectation {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(value, &fields); err != nil {
		return expectation{skipped: "not a JSON object"}
	}
	var typ, event string
	if err := json.Unmarshal(fields["type"], &typ); err != nil || typ == "" {
		return expectation{skipped: "no string type"}
	}
	isTrack := strings.EqualFold(typ, "track")
	if raw, ok := fields["event"]; ok && isTrack {
		if err := json.Unmarshal(raw, &event); err != nil {
			return expectation{skipped: "event is not a string"}
		}
	}
	if raw, ok := fields["integrations"]; ok {
		var integ map[string]any
		if err := json.Unmarshal(raw, &integ); err != nil {
			return expectation{skipped: "integrations is not an object"}
		}
		fh, all := integ["Amazon Kinesis Firehose"], integ["All"]
		if fh == false || (all == false && fh != true) {
			return expectation{skipped: "integrations turn Firehose off"}
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, value); err != nil {
		return expectation{skipped: "not compactable"}
	}
	buf.WriteByte('\n')
	ex := expectation{record: buf.String()}
	seen := map[string]bool{}
	for _, r := range rows {
		match := r.Event == "*" || strings.EqualFold(r.Event, typ) || (isTrack && strings.EqualFold(r.Event, event))
		if match && !seen[r.Stream] {
			seen[r.Stream] = true
			ex.streams = append(ex.streams, r.Stream)
		}
	}
	return ex
}

// checkInfo reports where the generator's Info disagrees with the message
// itself, which would make it a poor witness for the test.
func checkInfo(value []byte, info *eventgen.Info) error {
	var m struct {
		Type         string         `json:"type"`
		Event        string         `json:"event"`
		Integrations map[string]any `json:"integrations"`
	}
	if err := json.Unmarshal(value, &m); err != nil {
		return fmt.Errorf("generator made invalid JSON: %v", err)
	}
	fh, all := m.Integrations["Amazon Kinesis Firehose"], m.Integrations["All"]
	disabled := fh == false || (all == false && fh != true)
	if m.Type != string(info.Type) || m.Event != info.Event || disabled != info.FirehoseDisabled {
		return fmt.Errorf("generator Info %q/%q/disabled=%v disagrees with message %q/%q/disabled=%v",
			info.Type, info.Event, info.FirehoseDisabled, m.Type, m.Event, disabled)
	}
	return nil
}

// source makes the messages of one test: a realistic generated mix (all six
// call types, letter-case variations of event names, unicode, number
// literals beyond float64, nesting, Personas computed traits, some
// pretty-printed and some opted out of Firehose), preceded by hand-written
// edge cases. It is used by one goroutine at a time.
type source struct {
	gen  *eventgen.Generator
	hand [][]byte
}

// genOptions turns the rarer variations up, so that a few thousand messages
// contain plenty of each.
func genOptions(seed int64) eventgen.Options {
	return eventgen.Options{
		Seed:           seed,
		Users:          2000,
		CaseVariation:  0.15,
		UnicodeShare:   0.15,
		BigNumberShare: 0.05,
		NestingShare:   0.05,
		PersonasShare:  0.3,
		PrettyShare:    0.05,
		FirehoseOptOut: 0.03,
	}
}

func newSource(seed int64, withHandWritten bool) *source {
	s := &source{gen: eventgen.New(genOptions(seed))}
	if withHandWritten {
		s.hand = handWritten(fmt.Sprintf("%s-%d", runID, seed))
	}
	return s
}

// next returns the next message.
func (s *source) next() draft {
	if len(s.hand) > 0 {
		v := s.hand[0]
		s.hand = s.hand[1:]
		return draft{value: v}
	}
	v, k, info := s.gen.Next(nil)
	info.MessageID = bytes.Clone(info.MessageID)
	return draft{key: bytes.Clone(k), value: v, info: &info}
}

// handWritten are edge cases the generator may not produce, or not often.
// The rows used with them (see routingRows) name "Order Completed",
// "Café Bestellt", page, Screen, IDENTIFY and group.
func handWritten(id string) [][]byte {
	msgs := []string{
		// A track named like a type matches that type's rows, by its name.
		`{"type":"track","event":"PAGE","messageId":"%s-h01","userId":"u1","properties":{"note":"a track named like a type"}}`,
		// Only a track's event names it: this page must not reach the
		// "Order Completed" rows.
		`{"type":"page","event":"Order Completed","name":"Checkout","messageId":"%s-h02","anonymousId":"a2","properties":{}}`,
		// Pretty-printed with CR LF and tabs, surrounded by whitespace,
		// with number literals a float64 round trip would change.
		" \r\n{\r\n\t\"type\" : \"track\",\r\n\t\"event\" : \"order completed\",\r\n\t\"messageId\" : \"%s-h03\",\r\n\t\"userId\" : \"u3\",\r\n" +
			"\t\"properties\" : {\r\n\t\t\"revenue\" : 123456789012345678901234567890,\r\n\t\t\"tiny\" : 1.0e-400,\r\n\t\t\"neg_zero\" : -0.0,\r\n" +
			"\t\t\"exp\" : 1E+2,\r\n\t\t\"products\" : [ { \"sku\" : \"A 1\" } , { } , [ ] ]\r\n\t}\r\n}\r\n\t ",
		// Unicode in the event name (row "Café Bestellt"), raw and escaped
		// text, HTML characters and a raw U+2028: compaction keeps them all.
		`{"type":"track","event":"CAFÉ BESTELLT","messageId":"%s-h04","userId":"ü4","properties":{"text":"naïve café 日本語 🚀","esc":"\u00e9\ud83d\ude80 \"q\" \\ \/","html":"<a href=\"x\">&amp;</a>","ls":"a` + "\u2028" + `b","deep":{"a":{"b":{"c":{"d":{"e":[1,[2,[3,{"f":null}]]]}}}}}}}`,
		// Personas computed trait (audience) with snake_case traits.
		`{"type":"identify","messageId":"%s-h05","userId":"u5","traits":{"high_value_customers":true,"lifetime_value_bucket":"top_10_pct","orders_last_90_days":12},` +
			`"context":{"personas":{"computation_class":"audience","computation_id":"aud_2Xyz","computation_key":"high_value_customers","namespace":"spa_9aBc","space_id":"spa_9aBc"}},"integrations":{"All":false,"Amazon Kinesis Firehose":true}}`,
		// Integrations that leave the destination on.
		`{"type":"group","groupId":"g6","messageId":"%s-h06","userId":"u6","traits":{"name":"Initech"},"integrations":{"Mixpanel":false,"Amazon Kinesis Firehose":true}}`,
		`{"type":"screen","name":"Home","messageId":"%s-h07","userId":"u7","integrations":{}}`,
		// Integrations that turn it off: never delivered.
		`{"type":"track","event":"Order Completed","messageId":"%s-h08","userId":"u8","integrations":{"Amazon Kinesis Firehose":false}}`,
		`{"type":"page","messageId":"%s-h09","userId":"u9","integrations":{"All":false}}`,
		`{"type":"alias","previousId":"a10","messageId":"%s-h10","userId":"u10","integrations":{"All":true,"Amazon Kinesis Firehose":false}}`,
		// An alias matches only "*".
		`{"type":"alias","previousId":"a11","messageId":"%s-h11","userId":"u11"}`,
		// Not JSON: skipped (logged), and must not hold up the partition.
		`{"type":"track","event":"Broken %s-h12",`,
	}
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = []byte(fmt.Sprintf(m, id))
	}
	return out
}

// streamSet names one test's delivery streams.
type streamSet struct {
	All, Pages, Orders, People, NewUsers string
}

func (s streamSet) names() []string {
	var out []string
	for _, n := range []string{s.All, s.Pages, s.Orders, s.People, s.NewUsers} {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// routingRows is the full mapping of the delivery test: event-name rows in
// unusual case, type rows in unusual case, two rows to the same stream, and
// a named row to the stream "*" also feeds (each must deliver once).
func routingRows(s streamSet) []row {
	return []row{
		{"User Registered", s.NewUsers},
		{"order completed", s.Orders},
		{"PRODUCT ADDED", s.Orders},
		{"Café Bestellt", s.Orders},
		{"page", s.Pages},
		{"Screen", s.Pages},
		{"IDENTIFY", s.People},
		{"group", s.People},
		{"*", s.All},
		{"Order Completed", s.All},
	}
}

// smallRows is the mapping of the group tests: fewer streams, so fewer
// PutRecordBatch calls for the emulator, still with name, type and "*" rows.
func smallRows(s streamSet) []row {
	return []row{
		{"Product Viewed", s.Orders},
		{"page", s.Pages},
		{"*", s.All},
	}
}
