package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/segmentio/kafka-go"
)

// cmdRefSDK is reference 2: the pipeline one would write first, with the
// SDK at its defaults. One goroutine decodes each message into a
// map[string]any with encoding/json, routes it by the same mapping rows as
// the worker, appends value+"\n" to a per-stream buffer and sends a full
// buffer (500 records) with PutRecordBatch through the stock client
// (config.LoadDefaultConfig, default retryer, default HTTP client),
// resending per-record failures. Once a second it sends every partial
// buffer and commits what it read, synchronously (kafka-go's default).
// The endpoint comes from AWS_ENDPOINT_URL_FIREHOSE. It runs until SIGTERM.
func cmdRefSDK(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("refsdk", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:19392", "comma-separated bootstrap brokers")
	topic := fs.String("topic", "bench-events", "topic")
	group := fs.String("group", "bench-refsdk", "consumer group")
	rowsFlag := fs.String("rows", "*=everything", "mapping rows event=stream, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var rows []mapping
	for r := range strings.SplitSeq(*rowsFlag, ",") {
		event, stream, ok := strings.Cut(r, "=")
		if !ok {
			return fmt.Errorf("row %q: want event=stream", r)
		}
		rows = append(rows, mapping{Event: event, Stream: stream})
	}

	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"))
	if err != nil {
		return err
	}
	client := firehose.NewFromConfig(cfg)
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:  strings.Split(*brokers, ","),
		GroupID:  *group,
		Topic:    *topic,
		MaxBytes: 10 << 20,
	})
	defer reader.Close()

	msgs := make(chan kafka.Message, 1000)
	go func() {
		// Ends when ctx ends: FetchMessage then fails.
		defer close(msgs)
		for {
			m, err := reader.FetchMessage(ctx)
			if err != nil {
				return
			}
			msgs <- m
		}
	}()

	buffers := map[string][]types.Record{}
	latest := map[int]kafka.Message{}
	put := func(stream string) {
		recs := buffers[stream]
		for len(recs) > 0 && ctx.Err() == nil {
			out, err := client.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(stream), Records: recs})
			if err != nil {
				fmt.Fprintln(stderr, "refsdk: PutRecordBatch:", err)
				sleepCtx(ctx, 100*time.Millisecond)
				continue
			}
			if aws.ToInt32(out.FailedPutCount) == 0 {
				break
			}
			var failed []types.Record
			for i, r := range out.RequestResponses {
				if r.ErrorCode != nil {
					failed = append(failed, recs[i])
				}
			}
			recs = failed
		}
		buffers[stream] = buffers[stream][:0]
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return nil
			}
			latest[m.Partition] = m
			var ev map[string]any
			if err := json.Unmarshal(m.Value, &ev); err != nil {
				continue
			}
			if firehoseDisabled(ev) {
				continue
			}
			typ, _ := ev["type"].(string)
			event, _ := ev["event"].(string)
			data := append(append(make([]byte, 0, len(m.Value)+1), m.Value...), '\n')
			for _, stream := range routeStraightforward(rows, typ, event) {
				buffers[stream] = append(buffers[stream], types.Record{Data: data})
				if len(buffers[stream]) == 500 {
					put(stream)
				}
			}
		case <-tick.C:
			for stream := range buffers {
				put(stream)
			}
			if len(latest) > 0 {
				commit := make([]kafka.Message, 0, len(latest))
				for _, m := range latest {
					commit = append(commit, m)
				}
				if err := reader.CommitMessages(ctx, commit...); err != nil && ctx.Err() == nil {
					fmt.Fprintln(stderr, "refsdk: commit:", err)
				}
				clear(latest)
			}
		}
	}
}

// routeStraightforward returns the distinct streams whose rows match: "*",
// the message's type, or a track's event name, case-insensitively.
func routeStraightforward(rows []mapping, typ, event string) []string {
	var out []string
	for _, r := range rows {
		if r.Event == "*" || strings.EqualFold(r.Event, typ) || (typ == "track" && strings.EqualFold(r.Event, event)) {
			dup := false
			for _, s := range out {
				dup = dup || s == r.Stream
			}
			if !dup {
				out = append(out, r.Stream)
			}
		}
	}
	return out
}

// firehoseDisabled reports whether the integrations object turns the
// destination off.
func firehoseDisabled(ev map[string]any) bool {
	integ, _ := ev["integrations"].(map[string]any)
	if v, ok := integ["Amazon Kinesis Firehose"].(bool); ok {
		return !v
	}
	all, ok := integ["All"].(bool)
	return ok && !all
}
