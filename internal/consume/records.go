package consume

import (
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/firehose-worker/firehose-worker/internal/kafkawire"
	"github.com/firehose-worker/firehose-worker/internal/scrub"
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
	// mem holds msgs' keys and values until the worker has handled them.
	mem arena
}

// decodeRecords appends to f the messages of records, a partition's record
// set in a fetch response, at or past next (a compressed batch starts
// before the offset asked for), and sets f.through.
//
// Control batches, the markers transactional producers write, are not
// messages: their offsets only move through, and so do offsets a batch
// covers whose records compaction removed. Keys and values are copied out
// of the response, whose buffer the next fetch reuses, into f.mem, which
// is reused once the worker has handled them (see Handler); headers are
// copied into memory of their own.
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
				f.msgs = append(f.msgs, message(&f.mem, topic, partition, hwm, &r))
				f.bytes += int64(len(r.Key) + len(r.Value))
				f.through = r.Offset + 1
			}
		}
		if b.LastOffset >= f.through {
			f.through = b.LastOffset + 1
		}
	}
}

// message copies r out of the response, its key and value into mem.
func message(mem *arena, topic string, partition int, hwm int64, r *kafkawire.Record) kafka.Message {
	m := kafka.Message{
		Topic: topic, Partition: partition, Offset: r.Offset, HighWaterMark: hwm,
		Time: time.UnixMilli(r.TimeMillis),
	}
	kv := mem.alloc(len(r.Key) + len(r.Value))
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

// slabSize is the unit of an arena. A message above a quarter of one gets
// memory of its own, so a slab is never mostly wasted; and a partition's
// share of a response wastes at most the end of its last slab, which with
// hundreds of partitions, each with a few messages per response, must stay
// small next to the read-ahead budget (192 partitions with two responses
// each in flight: at most 12 MiB).
const slabSize = 32 << 10

// arena hands out memory from slabs shared through a pool, and gives them
// all back at once. Copying every message into memory of its own cost one
// allocation per message, about a fifth of the consume-only CPU with the
// collection it drives; a slab costs one per ~30 messages, none when the
// pool has one. What the pool keeps is bounded by what is in flight (the
// read-ahead budget), and the collector empties it when idle.
type arena struct {
	pool  *sync.Pool // of *[]byte of slabSize
	slabs []*[]byte
	room  []byte // the unused end of the last slab
}

// owned says the arena gives each allocation memory of its own (it has no
// pool), which Claim.Keep then need not copy.
func (a *arena) owned() bool { return a.pool == nil }

// alloc returns n bytes (of unspecified content) valid until release. An
// arena with no pool gives memory of its own every time, which release
// leaves alone.
func (a *arena) alloc(n int) []byte {
	if n == 0 {
		return []byte{} // never nil: an empty value is not a missing one
	}
	if n > slabSize/4 || a.pool == nil {
		return make([]byte, n)
	}
	if n > len(a.room) {
		s, _ := a.pool.Get().(*[]byte)
		if s == nil {
			b := make([]byte, slabSize)
			s = &b
		}
		a.slabs = append(a.slabs, s)
		a.room = *s
	}
	b := a.room[:n:n]
	a.room = a.room[n:]
	return b
}

// release gives every slab back; what alloc returned must no longer be used.
func (a *arena) release() {
	for i, s := range a.slabs {
		scrub.Released(*s)
		a.pool.Put(s)
		a.slabs[i] = nil
	}
	a.slabs, a.room = a.slabs[:0], nil
}
