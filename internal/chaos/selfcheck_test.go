//go:build chaos

package chaos

// Checks of the run's own judge, without services:
//
//	go test -tags chaos -run 'Ledger|Source|Forwarder' ./internal/chaos/

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/maphash"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/firehose-worker/firehose-worker/internal/firehosesim"
)

func TestLedgerMatchAndTally(t *testing.T) {
	seed := maphash.MakeSeed()
	led := newLedger(seed)
	hash := func(s string) uint64 { return maphash.Bytes(seed, []byte(s)) }
	recs := map[string]string{
		"track":   `{"type":"track","event":"A","messageId":"m1"}`,
		"page":    `{"type":"page","messageId":"m2"}`,
		"lost":    `{"type":"track","event":"B","messageId":"m3"}`,
		"pending": `{"type":"track","event":"C","messageId":"m4"}`,
		"optout":  `{"type":"track","event":"D","messageId":"m5","integrations":{"Amazon Kinesis Firehose":false}}`,
	}
	add := func(id, rec string, k kind, streams uint8, offset int64) {
		led.add(&message{id: id, hash: hash(rec), kind: k, streams: streams, typ: "t"}, 0, offset, false)
	}
	add("m1", recs["track"], kindDeliver, 1<<streamAll, 0)
	add("m2", recs["page"], kindDeliver, 1<<streamAll|1<<streamPages, 1)
	add("m3", recs["lost"], kindDeliver, 1<<streamAll, 2)
	add("m4", recs["pending"], kindDeliver, 1<<streamAll, 5)
	add("m5", recs["optout"], kindOptOut, 0, 3)
	led.add(&message{id: "bad-1", kind: kindInvalid, invalid: 0, typ: "invalid"}, 0, 4, false)

	all := streamResult{DuplicatesByTime: map[int]int{}}
	for i, line := range []string{
		recs["track"], recs["page"], recs["track"], // m1 twice
		recs["optout"], // must not be delivered
		`{"type":"track","event":"A","messageId":"m1","x":1}`, // m1 altered
		`{"type":"track","messageId":"nobody"}`,               // unknown
	} {
		led.match(&all, streamAll, []byte(line), int32(10*i))
	}
	// Offsets 0-4 committed, 5 not: m3 is lost, m4 still pending.
	attr := newAttributor(seed, runNames{})
	led.tally(&all, streamAll, map[int32]int64{0: 5}, attr)
	want := streamResult{Expected: 4, Delivered: 2, Missing: 2, MissingCommitted: 1, Duplicates: 1, OptOutDelivered: 1, Corrupted: 1, Unknown: 1}
	got := streamResult{Expected: all.Expected, Delivered: all.Delivered, Missing: all.Missing, MissingCommitted: all.MissingCommitted,
		Duplicates: all.Duplicates, OptOutDelivered: all.OptOutDelivered, Corrupted: all.Corrupted, Unknown: all.Unknown}
	if !equalJSON(got, want) {
		t.Errorf("stream all: got %+v, want %+v\nexamples: %q", got, want, all.Examples)
	}
	if all.DuplicatesByTime[20] != 1 {
		t.Errorf("the extra copy of m1 arrived at 20s; bins %v", all.DuplicatesByTime)
	}

	pages := streamResult{DuplicatesByTime: map[int]int{}}
	led.match(&pages, streamPages, []byte(recs["track"]), 0) // a track is not for pages
	led.match(&pages, streamPages, []byte(recs["page"]), 0)
	led.tally(&pages, streamPages, map[int32]int64{0: 5}, attr)
	if pages.Misrouted != 1 || pages.Expected != 1 || pages.Delivered != 1 || pages.Missing != 0 {
		t.Errorf("stream pages: %+v", pages)
	}
}

// TestAttributorExplainsEveryDuplicate: five messages arrive twice; one was
// in a call whose answer was cut, one lies in a killed worker's window, one
// in a broker restart's, one in a moto call the harness's forwarder resent
// after it failed, and one in none: that one is unattributed.
func TestAttributorExplainsEveryDuplicate(t *testing.T) {
	seed := maphash.MakeSeed()
	led := newLedger(seed)
	names := runNames{Streams: [numStreams]string{"all", "pages"}}
	attr := newAttributor(seed, names)
	recs := []string{`{"messageId":"c"}`, `{"messageId":"k"}`, `{"messageId":"b"}`, `{"messageId":"u"}`, `{"messageId":"h"}`}
	for i, r := range recs {
		led.add(&message{id: string(rune('a' + i)), hash: maphash.Bytes(seed, []byte(r)), kind: kindDeliver, streams: 1 << streamAll, typ: "t"}, int32(i), 100, false)
	}
	// The cut call's records carry their newline, as Firehose gets them.
	attr.observe(firehosesim.CallInfo{Stream: "all", Outcome: firehosesim.OutcomeDropped, Landed: [][]byte{[]byte(recs[0] + "\n")}})
	attr.observe(firehosesim.CallInfo{Stream: "all", Outcome: firehosesim.OutcomeOK, Landed: [][]byte{[]byte(recs[3] + "\n")}})
	attr.forwarderResent("all", [][]byte{[]byte(recs[4] + "\n")})
	at := func(committed, ends int64, parts ...int32) (*sample, *sample) {
		b, a := &sample{committed: map[int32]int64{}}, &sample{ends: map[int32]int64{}}
		for _, p := range parts {
			b.committed[p], a.ends[p] = committed, ends
		}
		return b, a
	}
	before, after := at(90, 110, 1)
	attr.window(causeKill, 5, []int32{1}, before, after)
	before, after = at(100, 101, 2)
	attr.window(causeBroker, 9, []int32{2}, before, after)
	before, after = at(101, 200, 3) // partition 3's offset 100 was committed before
	attr.window(causeRebalance, 12, []int32{3}, before, after)
	res := streamResult{DuplicatesByTime: map[int]int{}}
	for _, r := range recs {
		led.match(&res, streamAll, []byte(r), 1)
		led.match(&res, streamAll, []byte(r), 2)
	}
	led.tally(&res, streamAll, nil, attr)
	got := res.Causes
	got.Examples = nil
	if want := (dupCauses{CutAnswer: 1, Kill: 1, BrokerRestart: 1, Harness: 1, Unattributed: 1}); !equalJSON(got, want) {
		t.Errorf("causes %+v, want %+v", got, want)
	}
	if len(res.Causes.Examples) != 1 || !strings.Contains(res.Causes.Examples[0], "partition 3 offset 100") {
		t.Errorf("unattributed examples %q", res.Causes.Examples)
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestSourceMakesEveryInvalidKindAndCompactHashes(t *testing.T) {
	seed := maphash.MakeSeed()
	src := newSource(options{Seed: 7, InvalidEvery: 10, OptOut: 0.05, RunID: "t"}, seed)
	reasons := map[string]int{}
	ids := map[string]bool{}
	var pages, optOut int
	for range 20000 {
		m := src.next()
		if ids[m.id] {
			t.Fatalf("messageId %s made twice", m.id)
		}
		ids[m.id] = true
		switch m.kind {
		case kindInvalid:
			reasons[invalidKinds[m.invalid].reason]++
			if r := invalidKinds[m.invalid].reason; r == "invalid_utf8" && utf8.Valid(m.value) {
				t.Errorf("an %s message is valid UTF-8: %q", r, m.value)
			}
		case kindOptOut:
			optOut++
		case kindDeliver:
			var buf bytes.Buffer
			if err := json.Compact(&buf, m.value); err != nil {
				t.Fatalf("generated message is not JSON: %v", err)
			}
			if maphash.Bytes(seed, buf.Bytes()) != m.hash {
				t.Fatalf("hash of %s is not the hash of its compacted form", m.id)
			}
			if m.streams&(1<<streamPages) != 0 {
				pages++
				if !strings.Contains(string(m.value), `"page"`) {
					t.Errorf("%s routed to pages: %.100s", m.id, m.value)
				}
			}
		}
	}
	if len(reasons) != len(invalidKinds) {
		t.Errorf("invalid kinds made: %v; want all %d", reasons, len(invalidKinds))
	}
	if pages == 0 || optOut == 0 {
		t.Errorf("pages %d, opted out %d: want some of each", pages, optOut)
	}
}

// fakeFirehose is a putRecordBatcher whose behaviour each test sets.
type fakeFirehose struct {
	put func(in *firehose.PutRecordBatchInput) (*firehose.PutRecordBatchOutput, error)
}

func (f *fakeFirehose) PutRecordBatch(_ context.Context, in *firehose.PutRecordBatchInput, _ ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error) {
	if f.put == nil {
		panic("fakeFirehose.put is not set")
	}
	return f.put(in)
}

func TestForwarderGroupsWritesAndResendsRefusedRecords(t *testing.T) {
	var mu sync.Mutex
	landed := map[string]int{}
	calls, refused := 0, 0
	fh := &fakeFirehose{put: func(in *firehose.PutRecordBatchInput) (*firehose.PutRecordBatchOutput, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if len(in.Records) > maxRecordsPerCall {
			t.Errorf("a call with %d records", len(in.Records))
		}
		if calls == 1 {
			return nil, errors.New("moto is busy")
		}
		out := &firehose.PutRecordBatchOutput{}
		for i, r := range in.Records {
			rr := fhtypes.PutRecordBatchResponseEntry{}
			if (calls+i)%7 == 0 { // refuse some records of every call
				rr.ErrorCode = aws.String("ServiceUnavailableException")
				refused++
			} else {
				landed[string(r.Data)]++
			}
			out.RequestResponses = append(out.RequestResponses, rr)
		}
		return out, nil
	}}
	f := newForwarder(context.Background(), fh, []string{"s"})
	var wg sync.WaitGroup
	for w := range 20 {
		wg.Go(func() {
			recs := make([][]byte, 100)
			for i := range recs {
				recs[i] = []byte(string(rune('a'+w)) + strings.Repeat("x", i))
			}
			if err := f.Write(context.Background(), "s", recs); err != nil {
				t.Errorf("write %d: %v", w, err)
			}
			// The Server reuses the memory once Write returns.
			for i := range recs {
				recs[i][0] = '!'
			}
		})
	}
	wg.Wait()
	f.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(landed) != 2000 {
		t.Errorf("%d distinct records landed, want 2000", len(landed))
	}
	for r, n := range landed {
		if n != 1 || r[0] == '!' {
			t.Errorf("record %.10q landed %d times", r, n)
		}
	}
	if calls >= 20 || refused == 0 {
		t.Errorf("%d calls (want writes grouped into fewer than 20), %d refused records", calls, refused)
	}
	st := f.stats()
	if st.FailedCalls != 1 || st.ResentRecords != int64(refused) || st.Records != 2000 {
		t.Errorf("stats %+v", st)
	}
}

func TestForwarderWriteReturnsWhenTheCallerLeaves(t *testing.T) {
	release := make(chan struct{})
	var got string
	fh := &fakeFirehose{put: func(in *firehose.PutRecordBatchInput) (*firehose.PutRecordBatchOutput, error) {
		<-release
		got = string(in.Records[0].Data)
		return &firehose.PutRecordBatchOutput{RequestResponses: make([]fhtypes.PutRecordBatchResponseEntry, len(in.Records))}, nil
	}}
	f := newForwarder(context.Background(), fh, []string{"s"})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	rec := []byte("record")
	if err := f.Write(ctx, "s", [][]byte{rec}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Write = %v, want the caller's deadline", err)
	}
	copy(rec, "reused") // the Server reuses the memory once Write returns
	close(release)
	f.Close()
	if st := f.stats(); st.Records != 1 || st.GaveUp != 1 || got != "record" {
		t.Errorf("the record must still be forwarded as written: got %q, stats %+v", got, st)
	}
}
