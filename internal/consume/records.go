package consume

import (
	"fmt"
	"io"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
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

// recordBatches returns the record batches of a fetched record set in offset
// order. A set holding several batches comes as a RecordStream.
func recordBatches(rs protocol.RecordSet) []protocol.RecordReader {
	switch r := rs.Records.(type) {
	case nil:
		return nil
	case *protocol.RecordStream:
		return r.Records
	default:
		return []protocol.RecordReader{r}
	}
}

// decodeRecords appends to f the messages of rs at or past next (a
// compressed batch starts before the offset asked for) and sets f.through.
// Control batches, the markers transactional producers write, are not
// messages: their offsets only move through. Keys and values are copied out
// of kafka-go's page buffers, which are then released, so a message holds
// exactly its own bytes for as long as its records are in flight.
func decodeRecords(f *fetched, topic string, partition int, hwm int64, rs protocol.RecordSet, next int64) error {
	f.through = next
	for _, b := range recordBatches(rs) {
		_, control := b.(*protocol.ControlBatch)
		for {
			r, err := b.ReadRecord()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("reading records of %s/%d at offset %d: %w", topic, partition, f.through, err)
			}
			if r.Offset < next || control {
				closeBytes(r.Key)
				closeBytes(r.Value)
				if r.Offset >= f.through {
					f.through = r.Offset + 1
				}
				continue
			}
			key, err := copyBytes(r.Key)
			if err != nil {
				return fmt.Errorf("reading the key of %s/%d at offset %d: %w", topic, partition, r.Offset, err)
			}
			value, err := copyBytes(r.Value)
			if err != nil {
				return fmt.Errorf("reading the value of %s/%d at offset %d: %w", topic, partition, r.Offset, err)
			}
			f.bytes += int64(len(key) + len(value))
			f.msgs = append(f.msgs, kafka.Message{
				Topic:         topic,
				Partition:     partition,
				Offset:        r.Offset,
				HighWaterMark: hwm,
				Key:           key,
				Value:         value,
				Headers:       r.Headers,
				Time:          r.Time,
			})
			f.through = r.Offset + 1
		}
	}
	return nil
}

// copyBytes returns a copy of b and releases b. A nil b (a null key or
// value) stays nil.
func copyBytes(b protocol.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	out := make([]byte, b.Len())
	if _, err := io.ReadFull(b, out); err != nil {
		return nil, err
	}
	return out, nil
}

func closeBytes(b protocol.Bytes) {
	if b != nil {
		_ = b.Close()
	}
}
