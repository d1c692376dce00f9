package firehosesim

import (
	"fmt"

	"github.com/segmentio/asm/base64"
	"github.com/segmentio/encoding/json"
)

// putRequest is a decoded PutRecord or PutRecordBatch body. Its slices alias
// the pooled buffers of the callState that decoded it and are valid only
// until that state goes back to the pool.
type putRequest struct {
	stream    []byte   // DeliveryStreamName; nil when absent or null
	hasRecord bool     // "Records" (batch) or "Record" (single) was present
	records   [][]byte // decoded Data of each record, in request order
	nullData  int      // records whose Data was absent or null
	bytes     int      // sum of len(records[i])
}

// putDecoder turns a request body into a putRequest without allocating per
// record: the tokenizer hands out slices of the body, and base64 decodes into
// one buffer sized up front, so record slices never move.
type putDecoder struct {
	tok     json.Tokenizer
	data    []byte
	records [][]byte
}

// decode parses body. With batch set it expects {"DeliveryStreamName",
// "Records":[{"Data"}...]}, else {"DeliveryStreamName","Record":{"Data"}}.
// Unknown members are skipped, as a service must for forward compatibility.
// The error is a SerializationException for anything that is not such JSON.
func (d *putDecoder) decode(body []byte, batch bool) (putRequest, *apiError) {
	var req putRequest
	// Decoded data is at most 3/4 of the body, so one buffer of that size
	// holds every record and appends below never reallocate.
	if need := base64.StdEncoding.DecodedLen(len(body)); cap(d.data) < need {
		d.data = make([]byte, 0, need)
	}
	d.data = d.data[:0]
	d.records = d.records[:0]
	t := &d.tok
	t.Reset(body)
	defer t.Reset(nil) // hand the tokenizer's stack back and drop the body reference

	if !t.Next() || t.Delim != '{' {
		return req, serializationError("expected a JSON object")
	}
	closed := false
	for !closed {
		if !t.Next() {
			return req, serializationError("unterminated JSON object")
		}
		switch {
		case t.Delim == '}':
			closed = true
			continue
		case t.Delim == ',':
			continue
		case !t.IsKey:
			return req, serializationError("expected a member name")
		}
		key := t.String()
		if !t.Next() || t.Delim != ':' || !t.Next() {
			return req, serializationError("expected a member value")
		}
		var err *apiError
		switch {
		case string(key) == "DeliveryStreamName":
			req.stream, err = d.optionalString()
		case batch && string(key) == "Records":
			req.hasRecord, err = d.recordList()
		case !batch && string(key) == "Record":
			req.hasRecord, err = d.recordObject()
		default:
			err = d.skipValue()
		}
		if err != nil {
			return req, err
		}
	}
	if t.Next() {
		return req, serializationError("trailing data after the JSON object")
	}
	if t.Err != nil {
		return req, serializationError(t.Err.Error())
	}
	req.records = d.records
	for _, r := range d.records {
		if r == nil {
			req.nullData++
		}
		req.bytes += len(r)
	}
	return req, nil
}

// optionalString reads a string or null at the current token.
func (d *putDecoder) optionalString() ([]byte, *apiError) {
	t := &d.tok
	switch t.Kind().Class() {
	case json.Null:
		return nil, nil
	case json.String:
		s := t.String()
		if s == nil {
			s = []byte{} // present but empty stays distinguishable from absent
		}
		return s, nil
	default:
		return nil, serializationError("expected a string")
	}
}

// recordList reads [ {record}, ... ] or null at the current token.
func (d *putDecoder) recordList() (bool, *apiError) {
	t := &d.tok
	if t.Kind().Class() == json.Null {
		return false, nil
	}
	if t.Delim != '[' {
		return false, serializationError("Records must be a list")
	}
	for {
		if !t.Next() {
			return false, serializationError("unterminated Records list")
		}
		switch t.Delim {
		case ']':
			return true, nil
		case ',':
			continue
		}
		present, err := d.recordObject()
		if err != nil {
			return false, err
		}
		if !present {
			d.records = append(d.records, nil) // a null element: reported like a null Data
		}
	}
}

// recordObject reads {"Data":"<base64>"} at the current token and appends the
// decoded bytes to d.records, nil for a missing or null Data (validation
// reports it). A null record appends nothing and reports false.
func (d *putDecoder) recordObject() (bool, *apiError) {
	t := &d.tok
	if t.Kind().Class() == json.Null {
		return false, nil
	}
	if t.Delim != '{' {
		return false, serializationError("a record must be an object")
	}
	var data []byte
	for {
		if !t.Next() {
			return false, serializationError("unterminated record")
		}
		switch {
		case t.Delim == '}':
			d.records = append(d.records, data)
			return true, nil
		case t.Delim == ',':
			continue
		case !t.IsKey:
			return false, serializationError("expected a member name in a record")
		}
		key := t.String()
		if !t.Next() || t.Delim != ':' || !t.Next() {
			return false, serializationError("expected a member value in a record")
		}
		if string(key) != "Data" {
			if err := d.skipValue(); err != nil {
				return false, err
			}
			continue
		}
		switch t.Kind().Class() {
		case json.Null:
			data = nil
		case json.String:
			var err *apiError
			if data, err = d.appendBase64(t.String()); err != nil {
				return false, err
			}
		default:
			return false, serializationError("Data must be a base64 string")
		}
	}
}

// appendBase64 decodes src into the shared data buffer and returns the
// decoded slice, never nil, so an empty record differs from a null one.
func (d *putDecoder) appendBase64(src []byte) ([]byte, *apiError) {
	start := len(d.data)
	n := base64.StdEncoding.DecodedLen(len(src))
	if start+n > cap(d.data) {
		// Only reachable if an escaped string decoded longer than its raw
		// form, which base64 text cannot; fail loudly instead of aliasing.
		return nil, serializationError("record data larger than the request body")
	}
	m, err := base64.StdEncoding.Decode(d.data[start:start+n], src)
	if err != nil {
		return nil, serializationError(fmt.Sprintf("Data is not valid base64: %v", err))
	}
	d.data = d.data[:start+m]
	return d.data[start : start+m : start+m], nil
}

// skipValue consumes the value that starts at the current token.
func (d *putDecoder) skipValue() *apiError {
	t := &d.tok
	if t.Delim != '{' && t.Delim != '[' {
		if t.Delim != 0 {
			return serializationError("unexpected delimiter")
		}
		return nil
	}
	depth := 1
	for depth > 0 {
		if !t.Next() {
			return serializationError("unterminated value")
		}
		switch t.Delim {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
	}
	return nil
}

func serializationError(msg string) *apiError {
	return newAPIError(CodeSerialization, msg)
}
