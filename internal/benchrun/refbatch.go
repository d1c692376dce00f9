package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/firehose-worker/firehose-worker/internal/segment"
)

// Fetch settings of the batch-API reference: those of refconsume's Reader
// (the worker's fetch_max_bytes and fetch_max_wait defaults), so the two
// references differ only in the API they read through.
const (
	batchRefMaxBytes = 10 << 20
	batchRefMaxWait  = 250 * time.Millisecond
	// batchRefReadTimeout is added to the long poll for the client-side
	// read deadline of one fetch: a broker that does not answer by then is
	// redialled.
	batchRefReadTimeout = 10 * time.Second
)

// cmdBatchRef is the second consume reference, the floor of kafka-go
// itself: the group generation of refconsume, then per assigned partition a
// connection to its leader (Dialer.DialLeader) and a loop of
// Conn.ReadBatchWith, reading every value of a batch with Batch.Read into
// one reused buffer. No Reader: no per-message channel hand-off, stats or
// read deadline (one per fetch), and no allocation per message: what is
// left is kafka-go's cost of fetching and framing, the floor of any reader
// built on it. (Batch.ReadMessage, which allocates key, value and headers
// per message, measured 1.8-2.5 CPU-s per million against Batch.Read's
// 0.95-1.25 in the same runs; a worker that must hold values until they are
// acknowledged still need not allocate three slices per message.) It
// prints a consumeDone line once it has read --events messages, then keeps
// polling (an idle reader, for the partition scaling phase) until SIGTERM.
func cmdBatchRef(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return batchRef(ctx, "batchref", false, args, stdout, stderr)
}

// cmdBatchDecode is batchref that also runs the worker's decoder
// (segment.Decoder.Decode: validation and routing fields) on every value:
// the floor of the worker's consume-only row with today's decoder, fetch
// and decode and nothing else (no tracking, commits, hand-off or copies).
func cmdBatchDecode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return batchRef(ctx, "batchdecode", true, args, stdout, stderr)
}

func batchRef(ctx context.Context, name string, decode bool, args []string, stdout, stderr io.Writer) error {
	o, err := parseRefOptions(name, args)
	if err != nil {
		return err
	}
	c := &batchCounter{want: o.events, out: stdout}
	dialer := &kafka.Dialer{Timeout: 10 * time.Second}
	return readGroup(ctx, name, o, stderr, func(ctx context.Context, topic string, partition int, offset int64) {
		var d *segment.Decoder
		if decode {
			d = new(segment.Decoder)
		}
		readPartitionBatches(ctx, dialer, o.brokers[0], topic, partition, offset, c, d, stderr)
	})
}

// batchCounter is refconsume's count, kept per fetched batch rather than
// per message (one atomic add per batch), as a floor would.
type batchCounter struct {
	want        int64
	out         io.Writer
	count, size atomic.Int64
	invalid     atomic.Int64 // values the decoder refused (batchdecode)
	first       atomic.Int64
	report      sync.Once
	// firstCPU and firstCount are CPU time and count after the first
	// batch, for the steady-state figure.
	mu         sync.Mutex
	firstCPU   float64
	firstCount int64
}

// add counts one batch read at now.
func (c *batchCounter) add(n, bytes, now int64) {
	if n == 0 {
		return
	}
	isFirst := c.first.CompareAndSwap(0, now)
	c.size.Add(bytes)
	total := c.count.Add(n)
	if isFirst {
		c.mu.Lock()
		c.firstCPU, c.firstCount = selfCPU(), total
		c.mu.Unlock()
	}
	if total >= c.want && total-n < c.want {
		c.report.Do(func() {
			c.mu.Lock()
			steady := &steadyCPU{CPUFirst: c.firstCPU, CountFirst: c.firstCount, CPULast: selfCPU(), CountLast: total}
			c.mu.Unlock()
			b, _ := json.Marshal(consumeDone{Count: total, Bytes: c.size.Load(), First: c.first.Load(), Last: now, Steady: steady, Invalid: c.invalid.Load()})
			fmt.Fprintln(c.out, string(b))
		})
	}
}

// readPartitionBatches reads topic/partition from offset until ctx ends,
// redialling the leader (looked up again each time) after a connection
// error. It returns promptly when ctx ends: the connection is closed under
// the blocked read.
//
// With dec set, every value is decoded; one that fails is counted in
// c.invalid (the dataset has none).
func readPartitionBatches(ctx context.Context, d *kafka.Dialer, bootstrap, topic string, partition int, offset int64, c *batchCounter, dec *segment.Decoder, stderr io.Writer) {
	for ctx.Err() == nil {
		conn, err := d.DialLeader(ctx, "tcp", bootstrap, topic, partition)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(stderr, "batchref: %s/%d: dialling the leader: %v\n", topic, partition, err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
		offset, err = readBatches(conn, offset, c, dec)
		stop()
		_ = conn.Close()
		if ctx.Err() == nil {
			fmt.Fprintf(stderr, "%s batchref: %s/%d at offset %d: %v; redialling\n", time.Now().Format(time.StampMilli), topic, partition, offset, err)
			sleepCtx(ctx, 100*time.Millisecond)
		}
	}
}

// readBatches fetches from conn until a fetch fails, and returns the next
// offset to read and the error. offset may be kafka.FirstOffset or
// kafka.LastOffset (a partition the group never committed).
func readBatches(conn *kafka.Conn, offset int64, c *batchCounter, dec *segment.Decoder) (int64, error) {
	whence := kafka.SeekAbsolute | kafka.SeekDontCheck
	switch offset {
	case kafka.FirstOffset:
		offset, whence = 0, kafka.SeekStart
	case kafka.LastOffset:
		offset, whence = 0, kafka.SeekEnd
	}
	offset, err := conn.Seek(offset, whence)
	if err != nil {
		return offset, err
	}
	buf := make([]byte, 1<<20)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(batchRefMaxWait + batchRefReadTimeout))
		batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: batchRefMaxBytes, MaxWait: batchRefMaxWait})
		// Batch.Read returns no offset, and on some truncated batch tails
		// it returns (0, nil) without a message: the batch's offset is
		// what counts. A batch that failed to start reports offset 0.
		var bytes int64
		for {
			n, err := batch.Read(buf)
			if err != nil {
				if errors.Is(err, io.ErrShortBuffer) {
					buf = make([]byte, 2*len(buf)) // the batch ends; it is fetched again
				}
				break
			}
			bytes += int64(n)
			if dec != nil {
				if _, _, err := dec.Decode(buf[:n]); err != nil {
					c.invalid.Add(1)
				}
			}
		}
		if next := batch.Offset(); next > offset {
			c.add(next-offset, bytes, time.Now().UnixNano())
			offset = next
		}
		// An empty fetch (the long poll ran out) ends its batch with
		// RequestTimedOut, and a value larger than buf with ErrShortBuffer:
		// both leave the connection usable, as kafka.Reader treats them.
		if err := batch.Close(); err != nil && !errors.Is(err, kafka.RequestTimedOut) && !errors.Is(err, io.ErrShortBuffer) {
			return offset, err
		}
	}
}
