// Package sandbox runs, in one process, the two peers the worker talks to: a
// Kafka-protocol broker (franz-go's kfake) and a Firehose-compatible HTTP
// endpoint (firehosesim) that writes every record it acknowledges under a
// data directory, laid out the way Firehose writes objects to S3. The worker
// itself is not part of this package: the sandbox command runs it beside a
// Sandbox through the same code path and the same AWS environment as `run`.
//
// The package also renders what the sandbox command prints: the banner that
// says where everything listens, the status line (redrawn in place on a
// terminal, a line every few seconds elsewhere) and the summary at the end.
// Rendering is kept apart from the running parts so it can be tested as
// plain values.
package sandbox
