package firehosesim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"
)

// start runs a Server on a free port and returns it with a real SDK client
// pointed at it. Everything is torn down when the test ends.
func start(t testing.TB, opts Options) (*Server, *firehose.Client) {
	t.Helper()
	srv := New(opts)
	ep, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ep.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv, newClient(ep.URL, 0)
}

// newClient is the SDK client the worker would build, with retries off so
// every fault reaches the test exactly once.
func newClient(url string, maxConns int) *firehose.Client {
	httpClient := awshttp.NewBuildableClient()
	if maxConns > 0 {
		httpClient = httpClient.WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConnsPerHost = maxConns
		})
	}
	cfg := aws.Config{
		Region:      "us-west-2",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:  httpClient,
	}
	return firehose.NewFromConfig(cfg, func(o *firehose.Options) {
		o.BaseEndpoint = aws.String(url)
		o.Retryer = aws.NopRetryer{}
		o.RetryMaxAttempts = 1
	})
}

// makeRecords returns n distinct records of exactly size bytes (size >= 1),
// each ending in '\n' like the worker's records.
func makeRecords(prefix string, n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, size)
		copy(b, fmt.Sprintf("%s-%d:", prefix, i))
		for j := len(fmt.Sprintf("%s-%d:", prefix, i)); j < size-1; j++ {
			b[j] = 'a' + byte((i+j)%26)
		}
		b[size-1] = '\n'
		out[i] = b
	}
	return out
}

func putBatch(ctx context.Context, c *firehose.Client, stream string, records [][]byte) (*firehose.PutRecordBatchOutput, error) {
	in := &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(stream), Records: make([]types.Record, len(records))}
	for i, r := range records {
		in.Records[i] = types.Record{Data: r}
	}
	return c.PutRecordBatch(ctx, in)
}

// mustPutBatch sends records and fails the test on a whole-call error.
func mustPutBatch(t testing.TB, c *firehose.Client, stream string, records [][]byte) *firehose.PutRecordBatchOutput {
	t.Helper()
	out, err := putBatch(t.Context(), c, stream, records)
	if err != nil {
		t.Fatalf("PutRecordBatch(%s, %d records): %v", stream, len(records), err)
	}
	return out
}

// failedIndexes lists the entries of an answer that carry an ErrorCode, and
// checks that every entry is either a success or a failure, never both.
func failedIndexes(t testing.TB, out *firehose.PutRecordBatchOutput) []int {
	t.Helper()
	var failed []int
	for i, e := range out.RequestResponses {
		switch {
		case e.ErrorCode != nil && e.RecordId == nil && e.ErrorMessage != nil:
			failed = append(failed, i)
		case e.ErrorCode == nil && e.ErrorMessage == nil && e.RecordId != nil && *e.RecordId != "":
		default:
			t.Fatalf("entry %d is neither a success nor a failure: %+v", i, e)
		}
	}
	if got := int(aws.ToInt32(out.FailedPutCount)); got != len(failed) {
		t.Fatalf("FailedPutCount = %d, but %d entries failed", got, len(failed))
	}
	return failed
}

// without returns records minus the given indexes, in order.
func without(records [][]byte, drop []int) [][]byte {
	skip := make(map[int]bool, len(drop))
	for _, i := range drop {
		skip[i] = true
	}
	var out [][]byte
	for i, r := range records {
		if !skip[i] {
			out = append(out, r)
		}
	}
	return out
}

func equalRecords(t testing.TB, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: record %d = %q, want %q", what, i, trunc(got[i]), trunc(want[i]))
		}
	}
}

func trunc(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// apiCode returns the AWS error code of err and its HTTP status.
func apiCode(t testing.TB, err error) (string, int) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not an API error", err, err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v carries no HTTP response", err)
	}
	return apiErr.ErrorCode(), re.HTTPStatusCode()
}

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
