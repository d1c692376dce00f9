package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
)

// consumeDone is the line `benchrun refconsume` prints when it has read
// the expected number of messages.
type consumeDone struct {
	Count int64 `json:"count"`
	Bytes int64 `json:"bytes"`
	// First and Last are Unix nanoseconds of the first and the last
	// message handed to the application.
	First int64 `json:"first_ns"`
	Last  int64 `json:"last_ns"`
	// Steady is set by batchref: its own CPU time and count from the
	// first batch read to the last, for CPU per event without start-up.
	Steady *steadyCPU `json:"steady,omitempty"`
	// Invalid is set by batchdecode: values its decoder refused.
	Invalid int64 `json:"invalid,omitempty"`
}

// steadyCPU is CPU time spent on events after the first were read: CPU and
// count at the first sighting and at the end.
type steadyCPU struct {
	CPUFirst   float64 `json:"cpu_first_s"`
	CountFirst int64   `json:"count_first"`
	CPULast    float64 `json:"cpu_last_s"`
	CountLast  int64   `json:"count_last"`
}

// perMillion is the CPU per million events between the two readings.
func (s *steadyCPU) perMillion() float64 {
	if s == nil || s.CountLast <= s.CountFirst || s.CPULast <= s.CPUFirst {
		return 0
	}
	return (s.CPULast - s.CPUFirst) / float64(s.CountLast-s.CountFirst) * 1e6
}

// selfCPU is this process's user+system time in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
}

// refOptions are the flags of both reference readers.
type refOptions struct {
	brokers      []string
	topic, group string
	events       int64
}

func parseRefOptions(name string, args []string) (refOptions, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:19392", "comma-separated bootstrap brokers")
	topic := fs.String("topic", "bench-events", "topic")
	group := fs.String("group", "bench-"+name, "consumer group")
	events := fs.Int64("events", 0, "messages to read before reporting")
	if err := fs.Parse(args); err != nil {
		return refOptions{}, err
	}
	return refOptions{brokers: strings.Split(*brokers, ","), topic: *topic, group: *group, events: *events}, nil
}

// readGroup joins o's consumer group and, in every generation, starts read
// for each assigned partition at its committed offset (kafka.FirstOffset
// for one never committed) until ctx ends. read must return promptly when
// its own ctx ends: that is the generation ending (rebalance or Close).
func readGroup(ctx context.Context, name string, o refOptions, stderr io.Writer, read func(ctx context.Context, topic string, partition int, offset int64)) error {
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                o.group,
		Brokers:           o.brokers,
		Topics:            []string{o.topic},
		StartOffset:       kafka.FirstOffset,
		JoinGroupBackoff:  time.Second,
		HeartbeatInterval: 3 * time.Second,
	})
	if err != nil {
		return err
	}
	defer cg.Close()
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return nil
			}
			fmt.Fprintf(stderr, "%s: group: %v\n", name, err)
			continue
		}
		for t, parts := range gen.Assignments {
			for _, pa := range parts {
				gen.Start(func(ctx context.Context) { read(ctx, t, pa.ID, pa.Offset) })
			}
		}
	}
}

// cmdRefConsume is reference 1, the ceiling of the Kafka client the worker
// uses: the same kafka-go pattern (a ConsumerGroup generation, one Reader
// per assigned partition with the worker's fetch settings, FetchMessage)
// with nothing done to the messages. It prints a consumeDone line once it
// has read --events messages, then waits for SIGTERM.
func cmdRefConsume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseRefOptions("refconsume", args)
	if err != nil {
		return err
	}
	var (
		count, size atomic.Int64
		first       atomic.Int64
		report      sync.Once
	)
	// done runs once, on the goroutine that read the last message.
	done := func(last int64) {
		b, _ := json.Marshal(consumeDone{Count: count.Load(), Bytes: size.Load(), First: first.Load(), Last: last})
		fmt.Fprintln(stdout, string(b))
	}
	return readGroup(ctx, "refconsume", o, stderr, func(ctx context.Context, topic string, partition int, offset int64) {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:   o.brokers,
			Topic:     topic,
			Partition: partition,
			MinBytes:  1,
			MaxBytes:  10 << 20, // as in every earlier report (the worker's fetch_max_bytes was 10 MiB until 2026-12-02)
			MaxWait:   250 * time.Millisecond,
		})
		defer r.Close()
		_ = r.SetOffset(offset)
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				continue
			}
			now := time.Now().UnixNano()
			first.CompareAndSwap(0, now)
			size.Add(int64(len(m.Value)))
			if count.Add(1) == o.events {
				report.Do(func() { done(now) })
			}
		}
	})
}
