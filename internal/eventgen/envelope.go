package eventgen

import (
	"errors"
	"io"
)

// Envelopes is a Source that sends the messages of another Source in the
// batch bodies Segment's server libraries POST to /v1/batch, as a collector
// that writes what it received would put them on Kafka:
// {"batch":[{...},{...}],"sentAt":"...","context":{"library":{...}}}.
// Each value holds up to Size messages (fewer at the end of the source);
// sentAt is the newest timestamp among them, when they have one. The key
// and Info are those of the envelope's first message.
type Envelopes struct {
	src  Source
	size int
	key  []byte
}

// NewEnvelopes wraps src in envelopes of size messages (at least 1).
func NewEnvelopes(src Source, size int) *Envelopes {
	return &Envelopes{src: src, size: max(size, 1)}
}

// envelopeLibrary is the envelope's own context, as analytics-go sends it.
const envelopeLibrary = `"context":{"library":{"name":"analytics-go","version":"3.3.0"}}`

// NextMessage appends the next envelope to dst. It returns io.EOF only when
// the source has no message left for it.
func (e *Envelopes) NextMessage(dst []byte) ([]byte, []byte, Info, error) {
	start := len(dst)
	dst = append(dst, `{"batch":[`...)
	var first Info
	var newest int64
	n := 0
	for n < e.size {
		if n > 0 {
			dst = append(dst, ',')
		}
		mark := len(dst)
		out, key, info, err := e.src.NextMessage(dst)
		if errors.Is(err, io.EOF) {
			dst = dst[:mark]
			if n > 0 {
				dst = dst[:mark-1] // the comma before it
			}
			break
		}
		if err != nil {
			return dst[:start], nil, Info{}, err
		}
		dst = out
		if n == 0 {
			first, e.key = info, append(e.key[:0], key...)
		}
		if us := info.Timestamp.UnixMicro(); !info.Timestamp.IsZero() && us > newest {
			newest = us
		}
		n++
	}
	if n == 0 {
		return dst[:start], nil, Info{}, io.EOF
	}
	dst = append(dst, ']')
	if newest != 0 {
		dst = append(dst, `,"sentAt":"`...)
		dst = appendTimestamp(dst, newest)
		dst = append(dst, '"')
	}
	dst = append(dst, ',')
	dst = append(dst, envelopeLibrary...)
	dst = append(dst, '}')
	return dst, e.key, first, nil
}
