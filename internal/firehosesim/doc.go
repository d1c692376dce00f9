// Package firehosesim is an in-process stand-in for Amazon Data Firehose that
// speaks the real AWS JSON 1.1 wire protocol, so the unmodified aws-sdk-go-v2
// firehose client works against it when pointed at its URL (BaseEndpoint or
// AWS_ENDPOINT_URL_FIREHOSE). It serves three audiences:
//
//   - integration tests, which inject faults (throttling, per-record
//     failures, latency, dropped connections, rejected streams, quotas) and
//     assert exact outcomes;
//   - the sandbox command, which writes what it receives to a directory laid
//     out the way Firehose lays out objects in S3 (see DirSink);
//   - benchmarks, which need an endpoint that acknowledges at once and costs a
//     few allocations per call, not per record.
//
// A Server implements http.Handler; Start runs it on a TCP address. Records
// that the Server acknowledges are handed to a Sink before the answer is
// written, so by the time a client sees a RecordId the record has reached the
// Sink. The only exception is a call whose response is dropped on purpose
// (Faults.DropNextResponses): its records reach the Sink, but the client never
// learns that.
//
// Service behaviour that was checked against AWS sources is noted where it is
// implemented; everything else is a documented assumption.
package firehosesim
