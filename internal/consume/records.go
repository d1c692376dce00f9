package consume

import (
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/firehose-worker/firehose-worker/internal/kafkawire"
)

// fetched is what one fetch response held for one partition, handed from the
// broker's fetch loop to the partition's worker.
type fetched struct {
	msgs []kafka.Message
	// through is the offset after the last offset the response covered,
	// control records and compacted-away offsets included: once msgs are
	// tracked, the partition may commit up to here.
	through int64
	// bytes is what msgs hold (keys and values), counted against the
	// consumer's read-ahead budget until the worker has handled them.
	bytes int64
}

// decodeRecords appends to f the messages of records, a partition's record
// set in a fetch response, at or past next (a compressed batch starts
// before the offset asked for), and sets f.through.
//
// Control batches, the markers transactional producers write, are not
// messages: their offsets only move through, and so do offsets a batch
// covers whose records compaction removed. Keys, values and headers are
// copied out of the response, whose buffer the next fetch reuses, so a
// message holds exactly its own bytes for as long as its records are in
// flight: one allocation for its key and value together.
func decodeRecords(f *fetched, rd *kafkawire.Reader, topic string, partition int, hwm int64, records []byte, next int64) error {
	f.through = next
	rd.Reset(records)
	var r kafkawire.Record
	for {
		ok, err := rd.NextBatch()
		if err != nil {
			return fmt.Errorf("reading records of %s/%d at offset %d: %w", topic, partition, f.through, err)
		}
		if !ok {
			return nil
		}
		b := rd.Batch()
		if !b.Control {
			for {
				ok, err := rd.NextRecord(&r)
				if err != nil {
					return fmt.Errorf("reading records of %s/%d at offset %d: %w", topic, partition, f.through, err)
				}
				if !ok {
					break
				}
				if r.Offset < next {
					continue
				}
				f.msgs = append(f.msgs, message(topic, partition, hwm, &r))
				f.bytes += int64(len(r.Key) + len(r.Value))
				f.through = r.Offset + 1
			}
		}
		if b.LastOffset >= f.through {
			f.through = b.LastOffset + 1
		}
	}
}

// message copies r out of the response.
func message(topic string, partition int, hwm int64, r *kafkawire.Record) kafka.Message {
	m := kafka.Message{
		Topic: topic, Partition: partition, Offset: r.Offset, HighWaterMark: hwm,
		Time: time.UnixMilli(r.TimeMillis),
	}
	kv := make([]byte, len(r.Key)+len(r.Value))
	if r.Key != nil {
		m.Key = kv[:len(r.Key):len(r.Key)]
		copy(m.Key, r.Key)
	}
	if r.Value != nil {
		m.Value = kv[len(r.Key):]
		copy(m.Value, r.Value)
	}
	if n := r.Headers(); n > 0 {
		m.Headers = make([]kafka.Header, 0, n)
		r.EachHeader(func(k, v []byte) {
			m.Headers = append(m.Headers, kafka.Header{Key: string(k), Value: cloneOrNil(v)})
		})
	}
	return m
}

func cloneOrNil(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
