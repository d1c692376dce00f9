package firehosesim

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
)

// sizes returns records with the given lengths.
func sizes(n ...int) [][]byte {
	out := make([][]byte, len(n))
	for i, size := range n {
		out[i] = make([]byte, size)
		for j := range out[i] {
			out[i][j] = byte('a' + (i+j)%26)
		}
	}
	return out
}

func TestLimitsAndValidation(t *testing.T) {
	t.Parallel()
	// 4 full-size records plus 98,304 bytes is exactly 4 MiB.
	exact4MiB := sizes(MaxRecordBytes, MaxRecordBytes, MaxRecordBytes, MaxRecordBytes, MaxBatchBytes-4*MaxRecordBytes)
	over4MiB := sizes(MaxRecordBytes, MaxRecordBytes, MaxRecordBytes, MaxRecordBytes, MaxBatchBytes-4*MaxRecordBytes+1)

	tests := []struct {
		name     string
		stream   string
		records  [][]byte
		wantCode string // "" means the call succeeds
		wantMsg  string // substring of the error message
		typed    func(error) bool
	}{
		{name: "500 records pass", stream: "s", records: makeRecords("a", MaxBatchRecords, 3)},
		{name: "501 records are a ValidationException", stream: "s", records: makeRecords("a", MaxBatchRecords+1, 3),
			wantCode: CodeValidation, wantMsg: "at 'records' failed to satisfy constraint: Member must have length less than or equal to 500"},
		{name: "record of 1,024,000 bytes passes", stream: "s", records: sizes(MaxRecordBytes)},
		{name: "record of 1,024,001 bytes is a ValidationException", stream: "s", records: sizes(10, MaxRecordBytes+1),
			wantCode: CodeValidation, wantMsg: "at 'records.2.member.data' failed to satisfy constraint: Member must have length less than or equal to 1024000"},
		{name: "two oversized records are both reported", stream: "s", records: sizes(MaxRecordBytes+1, MaxRecordBytes+2),
			wantCode: CodeValidation, wantMsg: "2 validation errors detected"},
		{name: "exactly 4 MiB passes", stream: "s", records: exact4MiB},
		{name: "4 MiB + 1 byte is an InvalidArgumentException", stream: "s", records: over4MiB,
			wantCode: CodeInvalidArgument, wantMsg: "Records size exceeds 4 MB limit",
			typed: func(err error) bool { var e *types.InvalidArgumentException; return errors.As(err, &e) }},
		{name: "more than 500 records is checked before 4 MiB", stream: "s", records: append(over4MiB, makeRecords("b", MaxBatchRecords, 1)...),
			wantCode: CodeValidation, wantMsg: "less than or equal to 500"},
		{name: "empty list is a ValidationException", stream: "s", records: [][]byte{},
			wantCode: CodeValidation, wantMsg: "Member must have length greater than or equal to 1"},
		{name: "unknown stream is a ResourceNotFoundException", stream: "nope", records: sizes(1),
			wantCode: CodeResourceNotFound, wantMsg: "nope",
			typed: func(err error) bool { var e *types.ResourceNotFoundException; return errors.As(err, &e) }},
		{name: "invalid stream name is a ValidationException", stream: "bad/name", records: sizes(1),
			wantCode: CodeValidation, wantMsg: "regular expression pattern"},
		{name: "stream name over 64 characters is a ValidationException", stream: strings.Repeat("n", 65), records: sizes(1),
			wantCode: CodeValidation, wantMsg: "length less than or equal to 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := NewMemorySink()
			srv, c := start(t, Options{Streams: []string{"s", strings.Repeat("n", 65)}, Sink: sink})
			out, err := putBatch(t.Context(), c, tt.stream, tt.records)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("PutRecordBatch: %v", err)
				}
				if failed := failedIndexes(t, out); len(failed) != 0 {
					t.Fatalf("failed entries: %v", failed)
				}
				equalRecords(t, "sink", sink.Records(tt.stream), tt.records)
				return
			}
			if err == nil {
				t.Fatal("PutRecordBatch succeeded, want an error")
			}
			code, status := apiCode(t, err)
			if code != tt.wantCode || status != 400 {
				t.Fatalf("got %s/%d, want %s/400 (%v)", code, status, tt.wantCode, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("message %q lacks %q", err.Error(), tt.wantMsg)
			}
			if tt.typed != nil && !tt.typed(err) {
				t.Fatalf("errors.As found no typed error in %v", err)
			}
			if n, _ := sink.Totals(); n != 0 {
				t.Fatalf("a rejected call delivered %d records", n)
			}
			if st := srv.Stats(); st.Calls != (CallCounts{Error: 1}) {
				t.Fatalf("Calls = %+v, want one error", st.Calls)
			}
		})
	}
}
