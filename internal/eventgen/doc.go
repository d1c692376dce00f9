// Package eventgen makes realistic Segment messages and produces them to
// Kafka, so the worker can be tested and load-tested against the traffic it
// will really see.
//
// A Generator writes the JSON objects that Segment's tracking API produces
// (track, page, screen, identify, group and alias calls, see
// https://segment.com/docs/connections/spec/) straight into a caller's
// buffer. It is deterministic for a seed, never repeats a messageId, and
// deliberately mixes in the inputs a careless consumer gets wrong: event
// names in unusual letter case, non-ASCII text and \u escapes, number
// literals beyond float64 precision, deep nesting, pretty-printed messages,
// Personas computed traits and integrations objects. Each message comes with
// an Info that tells a test what the message is without parsing it.
//
// ReadNDJSON and Replay read recorded messages back from newline-delimited
// JSON, and Produce sends either kind of Source to a Kafka topic at a given
// rate, counting only what the broker acknowledged.
package eventgen
