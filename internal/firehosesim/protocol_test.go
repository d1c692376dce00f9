package firehosesim

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strconv"
	"strings"
	"testing"
)

// rawCall posts body with the given target and returns status, headers and
// body. It checks the framing every answer must have.
func rawCall(t *testing.T, ctx context.Context, url, target, body string) (int, http.Header, string) {
	t.Helper()
	return rawCallWith(t, ctx, http.DefaultClient, url, target, body)
}

func rawCallWith(t *testing.T, ctx context.Context, client *http.Client, url, target, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading answer: %v", err)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type = %q", got)
	}
	if resp.ContentLength != int64(len(b)) || resp.Header.Get("Content-Length") != strconv.Itoa(len(b)) {
		t.Errorf("Content-Length %q / %d for a %d-byte body", resp.Header.Get("Content-Length"), resp.ContentLength, len(b))
	}
	if resp.Header.Get("X-Amzn-RequestId") == "" {
		t.Error("no x-amzn-RequestId")
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestWireFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		setup      func(*Faults)
		target     string
		body       string
		wantStatus int
		wantType   string // x-amzn-ErrorType and __type; "" for a success
		wantBody   string // exact answer, when set
	}{
		{
			name:       "partial failure answer",
			setup:      func(f *Faults) { f.FailRecords(RecordFault{Every: 2, Code: CodeInternalFailure, Message: `say "why"`}) },
			target:     "Firehose_20150804.PutRecordBatch",
			body:       `{"DeliveryStreamName":"s","Records":[{"Data":"YQ=="},{"Data":"Yg=="}]}`,
			wantStatus: 200,
			wantBody:   `{"Encrypted":false,"FailedPutCount":1,"RequestResponses":[{"RecordId":"ID"},{"ErrorCode":"InternalFailure","ErrorMessage":"say \"why\""}]}`,
		},
		{
			name:       "whole-call throttling is a 503",
			setup:      func(f *Faults) { f.ThrottleNextCalls(1) },
			target:     "Firehose_20150804.PutRecordBatch",
			body:       `{"DeliveryStreamName":"s","Records":[{"Data":"YQ=="}]}`,
			wantStatus: 503,
			wantType:   "ServiceUnavailableException",
			wantBody:   `{"__type":"ServiceUnavailableException","message":"Slow down."}`,
		},
		{
			name:       "escaped base64, unknown members and any member order are accepted",
			target:     "Firehose_20150804.PutRecordBatch",
			body:       `{"Extra":{"a":[1,{"b":null}]},"Records":[{"Data":"P\/8=","More":true}],"DeliveryStreamName":"s"}`,
			wantStatus: 200,
		},
		{
			name:       "invalid base64 is a SerializationException",
			target:     "Firehose_20150804.PutRecordBatch",
			body:       `{"DeliveryStreamName":"s","Records":[{"Data":"not base64!"}]}`,
			wantStatus: 400,
			wantType:   "SerializationException",
		},
		{
			name:       "malformed JSON is a SerializationException",
			target:     "Firehose_20150804.PutRecordBatch",
			body:       `{"DeliveryStreamName":"s","Records":[`,
			wantStatus: 400,
			wantType:   "SerializationException",
		},
		{
			name:       "null Data is a ValidationException",
			target:     "Firehose_20150804.PutRecordBatch",
			body:       `{"DeliveryStreamName":"s","Records":[{"Data":null}]}`,
			wantStatus: 400,
			wantType:   "ValidationException",
			wantBody:   `{"__type":"ValidationException","message":"1 validation error detected: Value null at 'records.1.member.data' failed to satisfy constraint: Member must not be null"}`,
		},
		{
			name:       "null list element is a ValidationException",
			target:     "Firehose_20150804.PutRecordBatch",
			body:       `{"DeliveryStreamName":"s","Records":[{"Data":"YQ=="},null]}`,
			wantStatus: 400,
			wantType:   "ValidationException",
			wantBody:   `{"__type":"ValidationException","message":"1 validation error detected: Value null at 'records.2.member.data' failed to satisfy constraint: Member must not be null"}`,
		},
		{
			name:       "missing stream name is a ValidationException",
			target:     "Firehose_20150804.PutRecordBatch",
			body:       `{"Records":[{"Data":"YQ=="}]}`,
			wantStatus: 400,
			wantType:   "ValidationException",
		},
		{
			name:       "unknown operation",
			target:     "Firehose_20150804.DeleteDeliveryStream",
			body:       `{}`,
			wantStatus: 400,
			wantType:   "UnknownOperationException",
		},
		{
			name:       "missing target",
			body:       `{}`,
			wantStatus: 400,
			wantType:   "UnknownOperationException",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := New(Options{Streams: []string{"s"}})
			if tt.setup != nil {
				tt.setup(srv.Faults())
			}
			hs := httptest.NewServer(srv)
			defer hs.Close()

			status, h, body := rawCall(t, t.Context(), hs.URL, tt.target, tt.body)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, body)
			}
			if got := h.Get("X-Amzn-ErrorType"); got != tt.wantType {
				t.Fatalf("x-amzn-ErrorType = %q, want %q", got, tt.wantType)
			}
			if tt.wantType != "" && !strings.HasPrefix(body, `{"__type":"`+tt.wantType+`","message":"`) {
				t.Fatalf("error body %s", body)
			}
			if tt.wantBody != "" {
				// RecordIds are opaque; compare the rest exactly.
				if i := strings.Index(body, `"RecordId":"`); i >= 0 {
					j := strings.IndexByte(body[i+12:], '"')
					body = body[:i+12] + "ID" + body[i+12+j:]
				}
				if body != tt.wantBody {
					t.Fatalf("body\n%s\nwant\n%s", body, tt.wantBody)
				}
			}
		})
	}
}

func TestEscapedDataDecodesExactly(t *testing.T) {
	t.Parallel()
	sink := NewMemorySink()
	hs := httptest.NewServer(New(Options{Streams: []string{"s"}, Sink: sink}))
	defer hs.Close()
	// "P\/8=" is "P/8=" with JSON's optional escape of '/': bytes 3f ff.
	status, _, body := rawCall(t, t.Context(), hs.URL, "Firehose_20150804.PutRecordBatch",
		`{"DeliveryStreamName":"s","Records":[{"Data":"P\/8="},{"Data":""}]}`)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	equalRecords(t, "sink", sink.Records("s"), [][]byte{{0x3f, 0xff}, {}})
}

func TestConnectionsAreReused(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(New(Options{Streams: []string{"s"}}))
	defer hs.Close()
	reused := 0
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if info.Reused {
				reused++
			}
		},
	})
	calls := []struct{ target, body string }{
		{"Firehose_20150804.PutRecordBatch", `{"DeliveryStreamName":"s","Records":[{"Data":"YQ=="}]}`},
		{"Firehose_20150804.PutRecordBatch", `{"DeliveryStreamName":"x","Records":[{"Data":"YQ=="}]}`}, // an error answer
		{"Firehose_20150804.ListDeliveryStreams", `{}`},
		{"Firehose_20150804.PutRecordBatch", `{"DeliveryStreamName":"s","Records":[{"Data":"YQ=="}]}`},
	}
	// One connection at most: a call waits for the previous call's
	// connection to be put back idle (which the transport does on a
	// goroutine of its own once the answer is read), so a call dials anew
	// only when the server closed the connection, which is what this test
	// is about. With no such cap, a call could race the put-back and dial.
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	for _, c := range calls {
		rawCallWith(t, ctx, client, hs.URL, c.target, c.body)
	}
	if reused != len(calls)-1 {
		t.Fatalf("%d of %d calls reused the connection, want %d", reused, len(calls), len(calls)-1)
	}
}

func TestOversizedBodyIsRefused(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(New(Options{Streams: []string{"s"}, MaxBodyBytes: 1 << 10}))
	defer hs.Close()
	body := `{"DeliveryStreamName":"s","Records":[{"Data":"` + strings.Repeat("QUFB", 1<<10) + `"}]}`
	status, h, _ := rawCall(t, t.Context(), hs.URL, "Firehose_20150804.PutRecordBatch", body)
	if status != 400 || h.Get("X-Amzn-ErrorType") != CodeSerialization {
		t.Fatalf("status %d type %q, want 400 SerializationException", status, h.Get("X-Amzn-ErrorType"))
	}
}
