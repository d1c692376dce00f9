// Package segment reads the few fields of a Segment message that routing needs
// and frames the message as the record Firehose receives.
//
// A message is one JSON object per Kafka value. Only "type", "event" and
// "integrations" are read; the rest is validated but never re-encoded, so the
// record keeps the producer's key order, number text and escapes.
//
// A value may also be a /v1/batch envelope of several messages: Probe and
// Split (envelope.go) find them, each decoded as a value of its own.
package segment

import (
	"fmt"
)

// Reason codes for messages that cannot be delivered. They are short, stable
// and safe to use as metric attributes and dead-letter headers.
const (
	ReasonEmpty               = "empty"
	ReasonInvalidUTF8         = "invalid_utf8"
	ReasonNotJSON             = "not_json"
	ReasonNotObject           = "not_object"
	ReasonTooDeep             = "too_deep"
	ReasonMissingType         = "missing_type"
	ReasonTypeNotString       = "type_not_string"
	ReasonEventNotString      = "event_not_string"
	ReasonMissingEvent        = "missing_event"
	ReasonInvalidIntegrations = "invalid_integrations"
	ReasonRecordTooLarge      = "record_too_large"
)

// Error says why a message cannot be delivered.
type Error struct {
	Reason string // one of the Reason constants
	Detail string // human-readable; never contains message content
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Reason, e.Detail) }

func invalid(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Integrations is what the message's integrations object says about the
// Firehose destination.
type Integrations uint8

const (
	// IntegrationsDefault: the object is absent or says nothing that turns the
	// destination off.
	IntegrationsDefault Integrations = iota
	// IntegrationsDisabled: "Amazon Kinesis Firehose" is false, or "All" is false
	// and "Amazon Kinesis Firehose" is not true.
	IntegrationsDisabled
)

// IntegrationName is the key Segment uses for this destination.
const IntegrationName = "Amazon Kinesis Firehose"

// Message holds the routing fields of a decoded message. Type and Event alias
// the decoder's buffers: they are valid until the next Decode on the same
// Decoder.
type Message struct {
	Type         []byte
	Event        []byte // empty when absent
	HasEvent     bool
	Track        bool // Type is "track", in any letter case
	Integrations Integrations

	// Assumed: the message has no type (or a null one) and Type is the
	// decoder's default type; the record must then say it (see
	// AppendType). Set even when Decode goes on to return an error.
	Assumed bool
}
