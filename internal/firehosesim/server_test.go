package firehosesim

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
)

func TestPutRecordBatchDeliversExactBytesInOrder(t *testing.T) {
	t.Parallel()
	sink := NewMemorySink()
	srv, c := start(t, Options{Streams: []string{"events"}, Sink: sink})

	every := make([]byte, 256) // every byte value survives base64 both ways
	for i := range every {
		every[i] = byte(i)
	}
	records := append(makeRecords("r", 20, 100), every, []byte{}, []byte("last\n"))
	out := mustPutBatch(t, c, "events", records)

	if failed := failedIndexes(t, out); len(failed) != 0 {
		t.Fatalf("failed entries %v, want none", failed)
	}
	if len(out.RequestResponses) != len(records) {
		t.Fatalf("%d entries, want %d", len(out.RequestResponses), len(records))
	}
	if aws.ToBool(out.Encrypted) {
		t.Error("Encrypted = true, want false")
	}
	ids := make(map[string]bool)
	for _, e := range out.RequestResponses {
		if ids[*e.RecordId] {
			t.Fatalf("RecordId %q repeated", *e.RecordId)
		}
		ids[*e.RecordId] = true
	}
	// The sink has the records before the answer, so no waiting is needed.
	equalRecords(t, "sink", sink.Records("events"), records)

	st := srv.Stats()
	want := StreamStats{RecordsAccepted: int64(len(records)), BytesAccepted: sink.Bytes("events")}
	if st.Calls != (CallCounts{OK: 1}) || st.Streams["events"] != want {
		t.Fatalf("Stats = %+v, want one ok call and %+v", st, want)
	}
}

func TestRecordIDsUniqueAcrossCallsAndServers(t *testing.T) {
	t.Parallel()
	_, c1 := start(t, Options{AutoCreate: true})
	_, c2 := start(t, Options{AutoCreate: true})
	seen := make(map[string]bool)
	for _, c := range []*firehose.Client{c1, c2, c1, c2} {
		out := mustPutBatch(t, c, "s", makeRecords("x", 50, 10))
		for _, e := range out.RequestResponses {
			if seen[*e.RecordId] {
				t.Fatalf("RecordId %q repeated", *e.RecordId)
			}
			seen[*e.RecordId] = true
		}
	}
	if len(seen) != 200 {
		t.Fatalf("%d ids, want 200", len(seen))
	}
}

func TestPutRecord(t *testing.T) {
	t.Parallel()
	sink := NewMemorySink()
	srv, c := start(t, Options{Streams: []string{"one"}, Sink: sink})
	out, err := c.PutRecord(t.Context(), &firehose.PutRecordInput{
		DeliveryStreamName: aws.String("one"),
		Record:             &types.Record{Data: []byte("hello\n")},
	})
	if err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	if aws.ToString(out.RecordId) == "" {
		t.Fatal("empty RecordId")
	}
	equalRecords(t, "sink", sink.Records("one"), [][]byte{[]byte("hello\n")})

	srv.Faults().FailRecords(RecordFault{First: 1})
	_, err = c.PutRecord(t.Context(), &firehose.PutRecordInput{
		DeliveryStreamName: aws.String("one"),
		Record:             &types.Record{Data: []byte("refused\n")},
	})
	var sue *types.ServiceUnavailableException
	if !errors.As(err, &sue) {
		t.Fatalf("PutRecord with a failing record: %v, want ServiceUnavailableException", err)
	}
	if code, status := apiCode(t, err); code != CodeServiceUnavailable || status != 503 {
		t.Fatalf("got %s/%d, want ServiceUnavailableException/503", code, status)
	}
	if n := sink.Count("one"); n != 1 {
		t.Fatalf("sink has %d records, want 1", n)
	}
	if st := srv.Stats(); st.Calls != (CallCounts{OK: 1, Throttled: 1}) {
		t.Fatalf("Calls = %+v", st.Calls)
	}
}

func TestControlPlane(t *testing.T) {
	t.Parallel()
	srv, c := start(t, Options{Streams: []string{"b", "a"}, Region: "us-west-2", AccountID: "123456789012"})
	ctx := t.Context()

	created, err := c.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("c")})
	if err != nil {
		t.Fatalf("CreateDeliveryStream: %v", err)
	}
	if got, want := aws.ToString(created.DeliveryStreamARN), "arn:aws:firehose:us-west-2:123456789012:deliverystream/c"; got != want {
		t.Fatalf("ARN = %q, want %q", got, want)
	}
	_, err = c.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("c")})
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Fatalf("second create: %v, want ResourceInUseException", err)
	}

	list, err := c.ListDeliveryStreams(ctx, &firehose.ListDeliveryStreamsInput{})
	if err != nil {
		t.Fatalf("ListDeliveryStreams: %v", err)
	}
	if !slices.Equal(list.DeliveryStreamNames, []string{"a", "b", "c"}) || aws.ToBool(list.HasMoreDeliveryStreams) {
		t.Fatalf("list = %v more=%v", list.DeliveryStreamNames, aws.ToBool(list.HasMoreDeliveryStreams))
	}
	page, err := c.ListDeliveryStreams(ctx, &firehose.ListDeliveryStreamsInput{Limit: aws.Int32(1), ExclusiveStartDeliveryStreamName: aws.String("a")})
	if err != nil {
		t.Fatalf("ListDeliveryStreams page: %v", err)
	}
	if !slices.Equal(page.DeliveryStreamNames, []string{"b"}) || !aws.ToBool(page.HasMoreDeliveryStreams) {
		t.Fatalf("page = %v more=%v", page.DeliveryStreamNames, aws.ToBool(page.HasMoreDeliveryStreams))
	}

	desc, err := c.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("a")})
	if err != nil {
		t.Fatalf("DescribeDeliveryStream: %v", err)
	}
	d := desc.DeliveryStreamDescription
	if aws.ToString(d.DeliveryStreamName) != "a" || d.DeliveryStreamStatus != types.DeliveryStreamStatusActive ||
		d.DeliveryStreamType != types.DeliveryStreamTypeDirectPut || d.CreateTimestamp == nil ||
		time.Since(*d.CreateTimestamp) > time.Hour {
		t.Fatalf("description = %+v", d)
	}

	_, err = c.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("nope")})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("describe unknown: %v, want ResourceNotFoundException", err)
	}

	srv.Faults().RejectStream("a", CodeInvalidKMSResource, "key disabled")
	_, err = c.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("a")})
	var kms *types.InvalidKMSResourceException
	if !errors.As(err, &kms) || kms.ErrorMessage() != "key disabled" {
		t.Fatalf("describe rejected stream: %v, want InvalidKMSResourceException", err)
	}
	if st := srv.Stats(); st.Calls.Total() != 0 {
		t.Fatalf("control calls were counted as data calls: %+v", st.Calls)
	}
}

func TestAutoCreateAcceptsAnyValidName(t *testing.T) {
	t.Parallel()
	sink := NewMemorySink()
	srv, c := start(t, Options{AutoCreate: true, Sink: sink})
	for _, name := range []string{"x", "y.z", "A_b-9"} {
		mustPutBatch(t, c, name, makeRecords(name, 3, 8))
		if n := sink.Count(name); n != 3 {
			t.Fatalf("%s: %d records, want 3", name, n)
		}
		if srv.CreateStream(name) {
			t.Fatalf("%s was not created by its first use", name)
		}
	}
}

func TestDeleteStreamMakesItUnknown(t *testing.T) {
	t.Parallel()
	srv, c := start(t, Options{Streams: []string{"gone"}})
	mustPutBatch(t, c, "gone", makeRecords("g", 1, 5))
	srv.DeleteStream("gone")
	_, err := putBatch(t.Context(), c, "gone", makeRecords("g", 1, 5))
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("after delete: %v, want ResourceNotFoundException", err)
	}
}

func TestObserverSeesEveryDataCall(t *testing.T) {
	t.Parallel()
	calls := make(chan CallInfo, 10)
	srv, c := start(t, Options{Streams: []string{"s"}, Observer: func(ci CallInfo) { calls <- ci }})
	srv.Faults().ThrottleNextCalls(1)
	_, _ = putBatch(t.Context(), c, "s", makeRecords("a", 2, 10))
	srv.Faults().FailRecords(RecordFault{Every: 2})
	mustPutBatch(t, c, "s", makeRecords("b", 4, 10))
	_, _ = putBatch(t.Context(), c, "unknown", makeRecords("c", 1, 10))

	want := []CallInfo{
		{Operation: "PutRecordBatch", Stream: "s", Records: 2, Bytes: 20, Outcome: OutcomeThrottled, ErrorCode: CodeServiceUnavailable},
		{Operation: "PutRecordBatch", Stream: "s", Records: 4, Bytes: 40, Failed: 2, Outcome: OutcomePartial},
		{Operation: "PutRecordBatch", Stream: "unknown", Records: 1, Bytes: 10, Outcome: OutcomeError, ErrorCode: CodeResourceNotFound},
	}
	for i, w := range want {
		// The observer runs before the answer is written, so each call's
		// info is already queued when the client returns.
		select {
		case got := <-calls:
			if landed := len(got.Landed); landed != w.Records-w.Failed && w.Outcome == OutcomePartial || landed != 0 && w.Outcome != OutcomePartial {
				t.Fatalf("call %d: %d landed records, want %d", i, landed, w.Records-w.Failed)
			}
			got.Landed = nil // valid only during the observer call
			if !reflect.DeepEqual(got, w) {
				t.Fatalf("call %d: %+v, want %+v", i, got, w)
			}
		default:
			t.Fatalf("call %d not observed", i)
		}
	}
	st := srv.Stats()
	if st.Calls != (CallCounts{Throttled: 1, Partial: 1, Error: 1}) {
		t.Fatalf("Calls = %+v", st.Calls)
	}
	if got := st.Streams["s"]; got != (StreamStats{RecordsAccepted: 2, BytesAccepted: 20, RecordsFailed: 2, RecordsRejected: 2}) {
		t.Fatalf("Streams[s] = %+v", got)
	}
	if _, ok := st.Streams["unknown"]; ok {
		t.Fatal("an unknown stream got counters")
	}
}

func TestStartAnnouncesDialableURLAndCloses(t *testing.T) {
	t.Parallel()
	srv := New(Options{AutoCreate: true})
	ep, err := srv.Start(":0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	c := newClient(ep.URL, 0)
	mustPutBatch(t, c, "s", makeRecords("a", 1, 4))

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := ep.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := ep.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := putBatch(ctx, c, "s", makeRecords("a", 1, 4)); err == nil {
		t.Fatal("a call after Close succeeded")
	}
}
