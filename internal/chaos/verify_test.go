//go:build chaos

package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// maxExamples bounds the examples kept of each kind of problem.
const maxExamples = 10

// streamResult is what one stream's S3 objects held, against the ledger.
type streamResult struct {
	Stream   string `json:"stream"`
	Objects  int    `json:"objects"`
	Lines    int    `json:"lines"`
	Expected int    `json:"expected"`
	// Delivered counts the expected records found at least once, Missing
	// those never found, Duplicates the extra copies of found ones.
	Delivered int `json:"delivered"`
	Missing   int `json:"missing"`
	// MissingCommitted are missing records below the group's final
	// committed offset: committed without being delivered, the loss
	// at-least-once forbids. The rest of Missing were never committed
	// (the group did not get that far before the run ended).
	MissingCommitted int `json:"missing_committed"`
	Duplicates       int `json:"duplicates"`
	// Lines that should not be there: a record of a message that belongs
	// in other streams only, of one whose integrations turn Firehose off,
	// a known messageId with other content, or anything else.
	Misrouted       int `json:"misrouted"`
	OptOutDelivered int `json:"opted_out_but_delivered"`
	Corrupted       int `json:"corrupted"`
	Unknown         int `json:"unknown"`
	// Unterminated objects end in a record without its '\n'.
	Unterminated int      `json:"unterminated_objects"`
	Examples     []string `json:"examples,omitempty"`
	// DuplicatesByPartition says where the extra copies came from: per
	// source partition, how many and the offsets they span.
	DuplicatesByPartition map[int32]*dupSpan `json:"duplicates_by_partition,omitempty"`
	// DuplicatesByTime counts extra copies by when they arrived (moto's
	// object key, to the second), in dupBin bins since the run's start.
	DuplicatesByTime map[int]int `json:"duplicates_by_arrival_10s,omitempty"`
	// Causes attributes every extra copy (see attributor).
	Causes            dupCauses `json:"duplicate_causes"`
	DuplicateExamples []string  `json:"duplicate_examples,omitempty"`
}

// dupBin is the width of DuplicatesByTime's bins, in seconds.
const dupBin = 10

// dupSpan is the duplicated messages of one partition.
type dupSpan struct {
	Messages int   `json:"messages"`
	Copies   int   `json:"extra_copies"`
	First    int64 `json:"first_offset"`
	Last     int64 `json:"last_offset"`
}

func (r *streamResult) example(format string, args ...any) {
	if len(r.Examples) < maxExamples {
		r.Examples = append(r.Examples, fmt.Sprintf(format, args...))
	}
}

// readStream reads every object under "<stream>/" and matches its lines to
// the ledger's entries for stream index si. The producer must be done.
func readStream(ctx context.Context, s3c *s3.Client, bucket, stream string, si int, led *ledger, start time.Time, committed map[int32]int64, attr *attributor) (streamResult, error) {
	res := streamResult{Stream: stream, DuplicatesByTime: map[int]int{}}
	keyTime := stream + "-1-"
	const keyLayout = "2006-01-02-15-04-05"
	var keys []string
	p := s3.NewListObjectsV2Paginator(s3c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(stream + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return res, fmt.Errorf("listing s3://%s/%s/: %w", bucket, stream, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	res.Objects = len(keys)

	// Four readers fetch, this goroutine matches.
	type body struct {
		key  string
		data []byte
		err  error
	}
	work := make(chan string)
	bodies := make(chan body)
	var wg sync.WaitGroup
	for range 4 {
		// Returns when work is closed.
		wg.Go(func() {
			for k := range work {
				data, err := getObject(ctx, s3c, bucket, k)
				bodies <- body{k, data, err}
			}
		})
	}
	go func() {
		for _, k := range keys {
			work <- k
		}
		close(work)
		wg.Wait()
		close(bodies)
	}()

	led.mu.Lock()
	defer led.mu.Unlock()
	var firstErr error
	for b := range bodies {
		if b.err != nil {
			if firstErr == nil {
				firstErr = b.err
			}
			continue
		}
		data := b.data
		// moto names each object after the second it wrote it.
		at := int32(-1)
		if i := strings.LastIndex(b.key, keyTime); i >= 0 && len(b.key) >= i+len(keyTime)+len(keyLayout) {
			if t, err := time.Parse(keyLayout, b.key[i+len(keyTime):i+len(keyTime)+len(keyLayout)]); err == nil {
				at = int32(t.Sub(start.Truncate(time.Second)).Seconds())
			}
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			res.Unterminated++
			res.example("%s: ends in a record without its newline", b.key)
		}
		for line := range bytes.Lines(data) {
			line = bytes.TrimSuffix(line, []byte("\n"))
			res.Lines++
			led.match(&res, si, line, at)
		}
	}
	if firstErr != nil {
		return res, firstErr
	}
	led.tally(&res, si, committed, attr)
	return res, nil
}

// tally counts, for stream si, the expected records found, missing and
// duplicated, once every line was matched. Call with l.mu held.
func (l *ledger) tally(res *streamResult, si int, committed map[int32]int64, attr *attributor) {
	for i := range l.entries {
		e := &l.entries[i]
		if e.kind != kindDeliver || e.streams&(1<<si) == 0 {
			continue
		}
		res.Expected++
		switch n := e.seen[si]; {
		case n == 0:
			res.Missing++
			state := "not committed"
			if e.offset < committed[e.partition] {
				res.MissingCommitted++
				state = "COMMITTED"
			}
			res.example("missing: messageId %s (partition %d offset %d, %s)", e.id, e.partition, e.offset, state)
		default:
			res.Delivered++
			res.Duplicates += int(n) - 1
			if n > 1 {
				res.Causes.add(attr.attribute(e, si, int(n)-1))
				if res.DuplicatesByPartition == nil {
					res.DuplicatesByPartition = map[int32]*dupSpan{}
				}
				d := res.DuplicatesByPartition[e.partition]
				if d == nil {
					d = &dupSpan{First: e.offset, Last: e.offset}
					res.DuplicatesByPartition[e.partition] = d
				}
				d.Messages++
				d.Copies += int(n) - 1
				d.First, d.Last = min(d.First, e.offset), max(d.Last, e.offset)
			}
		}
	}
}

// match files one line of stream si. Call with l.mu held.
func (l *ledger) match(res *streamResult, si int, line []byte, at int32) {
	if i, ok := l.byHash[maphash.Bytes(l.seed, line)]; ok {
		e := &l.entries[i]
		switch {
		case e.kind == kindDeliver && e.streams&(1<<si) != 0:
			e.seen[si]++
			if e.seen[si] == 1 {
				e.firstAt[si] = at
				break
			}
			// The later of two copies is the extra one.
			extra := max(at, e.firstAt[si])
			e.firstAt[si] = min(at, e.firstAt[si])
			res.DuplicatesByTime[int(extra)/dupBin*dupBin]++
			if len(res.DuplicateExamples) < maxExamples {
				res.DuplicateExamples = append(res.DuplicateExamples, fmt.Sprintf("messageId %s partition %d offset %d: copies at %ds and %ds",
					e.id, e.partition, e.offset, e.firstAt[si], extra))
			}
		case e.kind == kindDeliver:
			res.Misrouted++
			res.example("misrouted: messageId %s is not for this stream", e.id)
		case e.kind == kindOptOut:
			res.OptOutDelivered++
			res.example("delivered although its integrations turn Firehose off: messageId %s", e.id)
		case e.kind == kindUnacked:
			// The producer gave up on it; it may be in the topic.
		}
		return
	}
	var m struct {
		MessageID string `json:"messageId"`
	}
	if json.Unmarshal(line, &m) == nil && m.MessageID != "" {
		if i, ok := l.byID[m.MessageID]; ok {
			res.Corrupted++
			res.example("corrupted: messageId %s (partition %d offset %d) arrived with other content: %.200q",
				m.MessageID, l.entries[i].partition, l.entries[i].offset, line)
			return
		}
	}
	res.Unknown++
	res.example("unknown line: %.200q", line)
}

func getObject(ctx context.Context, s3c *s3.Client, bucket, key string) ([]byte, error) {
	var lastErr error
	for attempt := range 5 {
		out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err == nil {
			data, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err == nil {
				return data, nil
			}
		}
		lastErr = err
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	return nil, fmt.Errorf("reading s3://%s/%s: %w", bucket, key, lastErr)
}

// dlqResult is what the dead-letter topic held, against the ledger.
type dlqResult struct {
	Letters          int            `json:"letters"`
	ByReason         map[string]int `json:"by_reason"`          // every letter
	DistinctByReason map[string]int `json:"distinct_by_reason"` // one per source message
	Duplicates       int            `json:"duplicates"`
	// Expected letters (the invalid messages) that never arrived: a loss.
	InvalidNotDeadLettered int `json:"invalid_not_dead_lettered"`
	// ... of which the group had committed past: lost.
	InvalidNotDeadLetteredCommitted int `json:"invalid_not_dead_lettered_committed"`
	// Letters whose reason differs from the one the ledger expects.
	WrongReason int `json:"wrong_reason"`
	// Letters of messages that were to be delivered (or of no message of
	// the run), by reason.
	Unexpected         int            `json:"unexpected"`
	UnexpectedByReason map[string]int `json:"unexpected_by_reason,omitempty"`
	Examples           []string       `json:"examples,omitempty"`
}

func (r *dlqResult) example(format string, args ...any) {
	if len(r.Examples) < maxExamples {
		r.Examples = append(r.Examples, fmt.Sprintf(format, args...))
	}
}

// readDLQ reads the whole dead-letter topic with its own franz-go consumer
// and matches each letter to the message it came from by the
// dlq.source.partition and dlq.source.offset headers.
func readDLQ(ctx context.Context, o options, adm *kadm.Client, names runNames, led *ledger, committed map[int32]int64) (dlqResult, error) {
	res := dlqResult{ByReason: map[string]int{}, DistinctByReason: map[string]int{}, UnexpectedByReason: map[string]int{}}
	ends, err := adm.ListEndOffsets(ctx, names.DLQ)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return res, fmt.Errorf("end offsets of %s: %w", names.DLQ, err)
	}
	want := map[int32]int64{}
	assign := map[int32]kgo.Offset{}
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Offset > 0 {
			want[lo.Partition] = lo.Offset
			assign[lo.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(want) > 0 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(o.Kafka), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{names.DLQ: assign}),
			kgo.ClientID("chaos-dlq-reader"))
		if err != nil {
			return res, err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		led.mu.Lock()
		defer led.mu.Unlock()
		for len(want) > 0 {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				return res, fmt.Errorf("reading %s: %d partitions not read to the end: %w", names.DLQ, len(want), err)
			}
			fs.EachError(func(t string, p int32, err error) {
				res.example("fetch error %s/%d: %v", t, p, err)
			})
			fs.EachRecord(func(r *kgo.Record) {
				led.letter(&res, r, names.Topic)
				if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
					delete(want, r.Partition)
				}
			})
		}
	} else {
		led.mu.Lock()
		defer led.mu.Unlock()
	}
	for i := range led.entries {
		e := &led.entries[i]
		if e.kind != kindInvalid {
			continue
		}
		if e.letters == 0 {
			res.InvalidNotDeadLettered++
			state := "not committed"
			if e.offset < committed[e.partition] {
				res.InvalidNotDeadLetteredCommitted++
				state = "COMMITTED"
			}
			res.example("not dead-lettered: %s message %s (partition %d offset %d, %s)", invalidKinds[e.invalid].reason, e.id, e.partition, e.offset, state)
			continue
		}
		res.DistinctByReason[e.reason]++
		res.Duplicates += int(e.letters) - 1
	}
	return res, nil
}

// letter files one dead letter. Call with l.mu held.
func (l *ledger) letter(res *dlqResult, r *kgo.Record, topic string) {
	h := map[string]string{}
	for _, hd := range r.Headers {
		h[hd.Key] = string(hd.Value)
	}
	reason := h["dlq.reason"]
	res.Letters++
	res.ByReason[reason]++
	p, perr := strconv.ParseInt(h["dlq.source.partition"], 10, 32)
	off, oerr := strconv.ParseInt(h["dlq.source.offset"], 10, 64)
	i, ok := l.byOffset[tpo{int32(p), off}]
	if perr != nil || oerr != nil || h["dlq.source.topic"] != topic || !ok {
		res.Unexpected++
		res.UnexpectedByReason[reason]++
		res.example("unexpected letter %s/%d@%d: reason %q, source %s/%s@%s, detail %q", r.Topic, r.Partition, r.Offset,
			reason, h["dlq.source.topic"], h["dlq.source.partition"], h["dlq.source.offset"], h["dlq.message"])
		return
	}
	e := &l.entries[i]
	e.letters++
	if e.letters == 1 {
		e.reason = reason
		if want := invalidKinds[e.invalid].reason; reason != want {
			res.WrongReason++
			res.example("letter for %s has reason %q, want %q", e.id, reason, want)
		}
	}
}
