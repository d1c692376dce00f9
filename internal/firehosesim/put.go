package firehosesim

import (
	"net/http"
	"strconv"
	"time"
)

// put serves PutRecordBatch (batch) and PutRecord. It is the hot path: for a
// call without faults it allocates a handful of objects (request id, headers),
// none per record.
func (s *Server) put(w http.ResponseWriter, r *http.Request, st *callState, requestID string, batch bool) {
	info := CallInfo{Operation: "PutRecord"}
	if batch {
		info.Operation = "PutRecordBatch"
	}
	if d := s.faults.latency(); d > 0 {
		if !waitOrCancel(r, d) {
			info.Outcome = OutcomeCanceled
			s.finish(&info, false, 0)
			return
		}
	}
	if s.faults.isBlocked() {
		s.failCall(w, &info, false, newAPIError(CodeServiceUnavailable, msgSlowDown), requestID)
		return
	}

	req, apiErr := st.dec.decode(st.body.Bytes(), batch)
	if apiErr == nil {
		apiErr = validatePut(&req, batch)
	}
	info.Records, info.Bytes = len(req.records), req.bytes
	if apiErr != nil {
		info.Stream = string(req.stream)
		s.failCall(w, &info, false, apiErr, requestID)
		return
	}
	stream, known := s.lookup(req.stream)
	if known {
		info.Stream = stream.name
	} else {
		info.Stream = string(req.stream)
	}
	if apiErr := s.faults.rejection(req.stream); apiErr != nil {
		s.failCall(w, &info, known, apiErr, requestID)
		return
	}
	if !known {
		s.failCall(w, &info, false, s.notFound(info.Stream), requestID)
		return
	}
	if req.bytes > MaxBatchBytes {
		// The exact message real Firehose returns (observed with boto3).
		s.failCall(w, &info, true, newAPIError(CodeInvalidArgument, "Records size exceeds 4 MB limit"), requestID)
		return
	}

	fail := st.failures(len(req.records))
	if apiErr := s.faults.decide(s.clock(), stream.name, req.records, req.bytes, fail); apiErr != nil {
		s.failCall(w, &info, true, apiErr, requestID)
		return
	}
	landed, landedBytes := st.collectLanded(req.records, fail)
	if len(landed) > 0 && s.sink != nil {
		if err := s.sink.Write(r.Context(), stream.name, landed); err != nil {
			info.SinkError = err
			for i := range fail {
				if fail[i].code == "" {
					fail[i] = recordFailure{code: CodeInternalFailure, message: msgInternalFailure}
				}
			}
			landed, landedBytes = nil, 0
		}
	}
	info.Failed = len(req.records) - len(landed)

	if !batch && info.Failed > 0 {
		// PutRecord has no per-record answer: its one failure fails the call.
		info.Failed = 0
		s.failCall(w, &info, true, newAPIError(fail[0].code, fail[0].message), requestID)
		return
	}

	info.Outcome = OutcomeOK
	if info.Failed > 0 {
		info.Outcome = OutcomePartial
	}
	drop := len(landed) > 0 && s.faults.shouldDrop()
	if drop {
		info.Outcome = OutcomeDropped
	}
	info.Landed = landed
	if batch {
		st.out = s.appendBatchResponse(st.out[:0], fail, info.Failed)
	} else {
		st.out = s.appendRecordResponse(st.out[:0])
	}
	s.finish(&info, true, landedBytes)
	if drop {
		dropAnswer(w, st.out, requestID)
		return
	}
	writeJSON(w, http.StatusOK, st.out, requestID)
}

// waitOrCancel waits d, or less if the client goes away; it reports whether
// the full delay passed.
func waitOrCancel(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// failCall answers with a whole-call error and counts it. streamKnown says
// whether the call's records count against an existing stream.
func (s *Server) failCall(w http.ResponseWriter, info *CallInfo, streamKnown bool, e *apiError, requestID string) {
	info.ErrorCode = e.code
	info.Outcome = OutcomeError
	if e.code == CodeServiceUnavailable {
		info.Outcome = OutcomeThrottled
	}
	s.finish(info, streamKnown, 0)
	writeAPIError(w, e, requestID)
}

// finish counts a call and shows it to the observer.
func (s *Server) finish(info *CallInfo, streamKnown bool, landedBytes int) {
	s.stats.record(info, streamKnown, landedBytes)
	if s.observer != nil {
		s.observer(*info)
	}
}

// failures returns a zeroed per-record failure slice of length n.
func (st *callState) failures(n int) []recordFailure {
	if cap(st.fail) < n {
		st.fail = make([]recordFailure, n)
	}
	st.fail = st.fail[:n]
	clear(st.fail)
	return st.fail
}

// collectLanded lists the records no fault failed, in order.
func (st *callState) collectLanded(records [][]byte, fail []recordFailure) ([][]byte, int) {
	landed := st.landed[:0]
	size := 0
	for i, r := range records {
		if fail[i].code == "" {
			landed = append(landed, r)
			size += len(r)
		}
	}
	st.landed = landed
	return landed, size
}

// appendBatchResponse writes the PutRecordBatch answer: one entry per record,
// in request order, a RecordId for each accepted record and ErrorCode plus
// ErrorMessage for each failed one. Member order follows a captured real
// answer: {"Encrypted":false,"FailedPutCount":N,"RequestResponses":[...]}.
func (s *Server) appendBatchResponse(b []byte, fail []recordFailure, failed int) []byte {
	b = append(b, `{"Encrypted":false,"FailedPutCount":`...)
	b = strconv.AppendInt(b, int64(failed), 10)
	b = append(b, `,"RequestResponses":[`...)
	base := s.seq.Add(uint64(len(fail))) - uint64(len(fail))
	for i := range fail {
		if i > 0 {
			b = append(b, ',')
		}
		if fail[i].code != "" {
			b = append(b, `{"ErrorCode":`...)
			b = appendJSONString(b, fail[i].code)
			b = append(b, `,"ErrorMessage":`...)
			b = appendJSONString(b, fail[i].message)
			b = append(b, '}')
			continue
		}
		b = append(b, `{"RecordId":"`...)
		b = s.appendRecordID(b, base+uint64(i)+1)
		b = append(b, `"}`...)
	}
	return append(b, "]}"...)
}

func (s *Server) appendRecordResponse(b []byte) []byte {
	b = append(b, `{"Encrypted":false,"RecordId":"`...)
	b = s.appendRecordID(b, s.seq.Add(1))
	return append(b, `"}`...)
}

// appendRecordID writes a RecordId: unique per Server (a sequence number)
// and across Servers (a random prefix). Real ones are opaque base64 strings.
func (s *Server) appendRecordID(b []byte, n uint64) []byte {
	b = append(b, s.idPrefix...)
	b = append(b, '-')
	return strconv.AppendUint(b, n, 36)
}
