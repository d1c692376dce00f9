package eventgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxLineBytes is the longest line ReadNDJSON and Replay accept. Segment
// rejects messages over 32 KB, so a longer line is not a Segment message;
// the limit only keeps a corrupt file from growing the buffer without end.
const MaxLineBytes = 8 << 20

// ReadNDJSON calls fn with each line of newline-delimited JSON read from r,
// in order, stopping at the end of r or the first error. Lines that are
// empty or only whitespace are skipped; a trailing "\r" is dropped, so CRLF
// files work. The line passed to fn is reused afterwards: fn must copy what
// it keeps.
//
// A line that is not valid JSON, or longer than MaxLineBytes, stops the
// read with an error naming its line number (counting from 1, blank lines
// included); so does an error from fn, which stays reachable with
// errors.Is and errors.As.
func ReadNDJSON(r io.Reader, fn func(line []byte) error) error {
	lr := newLineReader(r)
	for {
		line, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(line); err != nil {
			return fmt.Errorf("line %d: %w", lr.line, err)
		}
	}
}

// lineReader yields the valid JSON lines of an NDJSON stream, for
// ReadNDJSON and Replay.
type lineReader struct {
	sc   *bufio.Scanner
	line int
}

func newLineReader(r io.Reader) *lineReader {
	sc := bufio.NewScanner(r)
	// Start small; the scanner grows the buffer for long lines up to the cap.
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	return &lineReader{sc: sc}
}

// next returns the next non-blank line, io.EOF after the last, or an error
// that names the line.
func (lr *lineReader) next() ([]byte, error) {
	for lr.sc.Scan() {
		lr.line++
		line := lr.sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if !json.Valid(line) {
			return nil, fmt.Errorf("line %d: %w", lr.line, describeInvalid(line))
		}
		return line, nil
	}
	if err := lr.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than %d bytes: %w", lr.line+1, MaxLineBytes, err)
		}
		return nil, fmt.Errorf("after line %d: %w", lr.line, err)
	}
	return nil, io.EOF
}

// describeInvalid explains why line is not JSON. json.Valid says only
// whether; decoding again gives the position and cause, and costs nothing
// on the good path.
func describeInvalid(line []byte) error {
	var v json.RawMessage
	err := json.Unmarshal(line, &v)
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("invalid JSON at byte %d: %w", syn.Offset, err)
	}
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return errors.New("invalid JSON")
}
