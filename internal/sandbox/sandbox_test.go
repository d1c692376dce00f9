package sandbox

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func startSandbox(t *testing.T, dir string) *Sandbox {
	t.Helper()
	sb, err := Start(Options{
		KafkaAddr:     "127.0.0.1:0",
		FirehoseAddr:  "127.0.0.1:0",
		DataDir:       dir,
		FlushInterval: time.Hour, // files are written by Close, so counts are exact
		Topics:        []string{"events"},
		Partitions:    3,
		Group:         "g",
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// TestSandboxDeliversToFilesAndCountsLag drives both halves with clients of
// their own: records sent with the real SDK land in Firehose's S3 layout,
// and lag is the messages the group has not committed past.
func TestSandboxDeliversToFilesAndCountsLag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sb := startSandbox(t, dir)
	closed := false
	t.Cleanup(func() {
		if !closed {
			_, _ = sb.Close(context.Background())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(sb.Brokers()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: "events", Partition: int32(i % 3), Value: []byte("m")})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing to the sandbox broker: %v", err)
	}
	if got := sb.Kafka(ctx); got.Messages != 10 || got.Lag != 10 {
		t.Errorf("before any commit: %+v, want 10 messages, lag 10", got)
	}
	// Commit 2 of partition 0's 4 messages: lag drops by 2.
	offs := kadm.Offsets{}
	offs.AddOffset("events", 0, 2, -1)
	if _, err := kadm.NewClient(cl).CommitOffsets(ctx, "g", offs); err != nil {
		t.Fatal(err)
	}
	if got := sb.Kafka(ctx); got.Messages != 10 || got.Lag != 8 {
		t.Errorf("after committing 2: %+v, want 10 messages, lag 8", got)
	}

	fh := firehose.New(firehose.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(sb.FirehoseURL()),
		Credentials:  credentials.NewStaticCredentialsProvider("k", "s", ""),
		Retryer:      aws.NopRetryer{},
	})
	sent := [][]byte{[]byte("{\"a\":1}\n"), []byte("{\"b\":2}\n"), []byte("{\"c\":3}\n")}
	var in []types.Record
	for _, r := range sent {
		in = append(in, types.Record{Data: r})
	}
	out, err := fh.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("orders"), Records: in})
	if err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
		t.Fatalf("PutRecordBatch: %v, %+v", err, out)
	}
	obs := sb.Observe(ctx)
	if len(obs.Streams) != 1 || obs.Streams[0] != (StreamState{Name: "orders", Acknowledged: 3, Pending: 3}) {
		t.Errorf("observed streams %+v, want orders with 3 acknowledged and pending", obs.Streams)
	}

	began := time.Now()
	final, err := sb.Close(ctx)
	closed = true
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("Close took %s", d)
	}
	if got := final.Streams["orders"]; got.Records != 3 || got.Files != 1 || got.PendingRecords != 0 {
		t.Errorf("final totals %+v, want 3 records in 1 file", got)
	}
	if final.Kafka.Lag != 8 {
		t.Errorf("final lag %d, want 8", final.Kafka.Lag)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "orders", "*", "*", "*", "*", "orders-1-*"))
	if len(files) != 1 {
		t.Fatalf("files %v, want one under orders/YYYY/MM/DD/HH/", files)
	}
	if !regexp.MustCompile(`orders-1-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9a-f-]{36}$`).MatchString(files[0]) {
		t.Errorf("file name %s is not Firehose's", files[0])
	}
	data, _ := os.ReadFile(files[0])
	if want := bytes.Join(sent, nil); !bytes.Equal(data, want) {
		t.Errorf("file holds %q, want %q", data, want)
	}
}

func TestStartRefusesBusyPortsAndIncompleteOptions(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, t.TempDir())
	defer sb.Close(context.Background())
	_, err := Start(Options{KafkaAddr: "127.0.0.1:0", FirehoseAddr: strings.TrimPrefix(sb.FirehoseURL(), "http://"),
		DataDir: t.TempDir(), Topics: []string{"t"}, Group: "g"})
	if err == nil || !strings.Contains(err.Error(), "listening") {
		t.Fatalf("second sandbox on a busy Firehose port: %v, want a listen error", err)
	}
	_, err = Start(Options{KafkaAddr: sb.Brokers()[0], FirehoseAddr: "127.0.0.1:0", DataDir: t.TempDir(), Topics: []string{"t"}, Group: "g"})
	if err == nil || !strings.Contains(err.Error(), "Kafka broker") {
		t.Fatalf("second sandbox on a busy Kafka port: %v, want a broker error", err)
	}
	for _, bad := range []Options{
		{DataDir: "", Topics: []string{"t"}, Group: "g"},
		{DataDir: t.TempDir(), Group: "g"},
		{DataDir: t.TempDir(), Topics: []string{"t"}},
		{KafkaAddr: "nonsense", DataDir: t.TempDir(), Topics: []string{"t"}, Group: "g"},
	} {
		if _, err := Start(bad); err == nil {
			t.Errorf("Start(%+v) succeeded", bad)
		}
	}
}
