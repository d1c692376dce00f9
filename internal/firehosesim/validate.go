package firehosesim

import (
	"strconv"
	"strings"
)

// Stream names must match the model's pattern and length:
// https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html
const (
	maxStreamNameLen  = 64
	streamNamePattern = "[a-zA-Z0-9_.-]+"
)

// validatePut checks a decoded request against the model's constraints, the
// way real Firehose does before it looks at the stream: every violation is
// listed in one ValidationException. The message format copies what the
// service returns, e.g. for 501 records
//
//	1 validation error detected: Value '[...]' at 'records' failed to satisfy
//	constraint: Member must have length less than or equal to 500
//
// (observed with boto3 against real Firehose; an over-size record reads
// "... at 'records.97.member.data' ... less than or equal to 1024000").
// Nil means the request is valid.
func validatePut(req *putRequest, batch bool) *apiError {
	var v violations
	switch {
	case req.stream == nil:
		v.add("Value null at 'deliveryStreamName' failed to satisfy constraint: Member must not be null")
	case len(req.stream) == 0:
		v.add("Value '' at 'deliveryStreamName' failed to satisfy constraint: Member must have length greater than or equal to 1")
	default:
		if len(req.stream) > maxStreamNameLen {
			v.add("Value '" + string(req.stream) + "' at 'deliveryStreamName' failed to satisfy constraint: Member must have length less than or equal to 64")
		}
		if !validStreamName(req.stream) {
			v.add("Value '" + string(req.stream) + "' at 'deliveryStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: " + streamNamePattern)
		}
	}
	field := "record"
	if batch {
		field = "records"
	}
	switch {
	case !req.hasRecord:
		v.add("Value null at '" + field + "' failed to satisfy constraint: Member must not be null")
	case batch && len(req.records) == 0:
		v.add("Value '[]' at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case batch && len(req.records) > MaxBatchRecords:
		v.add("Value '[...]' at 'records' failed to satisfy constraint: Member must have length less than or equal to " + strconv.Itoa(MaxBatchRecords))
	}
	if req.nullData == 0 && req.bytes <= MaxRecordBytes && v.n == 0 {
		return nil // no record can be too large: skip the per-record loop
	}
	for i, r := range req.records {
		switch {
		case r == nil:
			v.add("Value null at '" + dataPath(batch, i) + "' failed to satisfy constraint: Member must not be null")
		case len(r) > MaxRecordBytes:
			n := strconv.Itoa(len(r))
			v.add("Value 'java.nio.HeapByteBuffer[pos=0 lim=" + n + " cap=" + n + "]' at '" + dataPath(batch, i) +
				"' failed to satisfy constraint: Member must have length less than or equal to " + strconv.Itoa(MaxRecordBytes))
		}
	}
	return v.err()
}

// dataPath names record i's Data the way the service's messages do. Member
// indexes are assumed 1-based (Coral's convention); only the shape
// "records.97.member.data" was observed.
func dataPath(batch bool, i int) string {
	if !batch {
		return "record.data"
	}
	return "records." + strconv.Itoa(i+1) + ".member.data"
}

func validStreamName(b []byte) bool {
	for _, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// violations collects constraint violations into one ValidationException.
type violations struct {
	n   int
	msg strings.Builder
}

func (v *violations) add(s string) {
	if v.n > 0 {
		v.msg.WriteString("; ")
	}
	v.msg.WriteString(s)
	v.n++
}

func (v *violations) err() *apiError {
	if v.n == 0 {
		return nil
	}
	head := "1 validation error detected: "
	if v.n > 1 {
		head = strconv.Itoa(v.n) + " validation errors detected: "
	}
	return newAPIError(CodeValidation, head+v.msg.String())
}
