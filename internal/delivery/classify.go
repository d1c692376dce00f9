package delivery

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Class says what to do after a failed call or record.
type Class int

const (
	// Throttled: Firehose asked us to slow down. Retry after a backoff.
	Throttled Class = iota
	// Transient: a server fault or a transport error that happened before
	// the request could have landed. Retry after a backoff.
	Transient
	// Unknown: the request may have landed (the connection broke after it was
	// sent, or the answer could not be read). Retry after a backoff, knowing
	// that the records may now be delivered twice.
	Unknown
	// Denied: the worker may not write to the stream (the role cannot be
	// assumed, access is denied, the credentials are refused). An operator
	// usually fixes this without touching the data, so by default the
	// records wait; Options.DeadLetterDenied sends them to the dead-letter
	// topic instead.
	Denied
	// Permanent: retrying the same records cannot succeed (the stream does not
	// exist, access is denied, the record is invalid). Dead-letter when a
	// dead-letter topic is set; otherwise retry slowly so nothing is lost.
	Permanent
)

func (c Class) String() string {
	switch c {
	case Throttled:
		return "throttled"
	case Transient:
		return "transient"
	case Unknown:
		return "unknown"
	case Denied:
		return "denied"
	default:
		return "permanent"
	}
}

// permanentCodes are error codes retrying cannot fix. Codes not listed are
// retried: a wrong guess there costs lag, which shows, while a wrong guess the
// other way would dead-letter deliverable data.
var permanentCodes = map[string]bool{
	"ResourceNotFoundException":   true,
	"InvalidArgumentException":    true,
	"InvalidKMSResourceException": true,
	"InvalidSourceException":      true,
	"ValidationException":         true,
}

var deniedCodes = map[string]bool{
	"AccessDeniedException":       true,
	"AccessDenied":                true,
	"UnrecognizedClientException": true,
	"InvalidSignatureException":   true,
	"InvalidClientTokenId":        true,
	"SignatureDoesNotMatch":       true,
}

var throttleCodes = map[string]bool{
	"ServiceUnavailableException": true,
	"ThrottlingException":         true,
	"Throttling":                  true,
	"LimitExceededException":      true,
	"SlowDown":                    true,
	"RequestLimitExceeded":        true,
	"TooManyRequestsException":    true,
}

// ClassifyCode classifies a per-record ErrorCode or an API error code.
func ClassifyCode(code string) Class {
	switch {
	case throttleCodes[code]:
		return Throttled
	case deniedCodes[code]:
		return Denied
	case permanentCodes[code], strings.HasPrefix(code, "KMS."):
		return Permanent
	default:
		return Transient
	}
}

// Classify classifies the error of a whole PutRecordBatch call and returns
// the error code to report (an AWS code, or a short transport description).
func Classify(err error) (Class, string) {
	if isCredentialError(err) {
		// The role could not be assumed or keys are missing: nothing was
		// sent.
		return Denied, "CredentialsUnavailable"
	}
	if _, ok := errors.AsType[*types.ServiceUnavailableException](err); ok {
		return Throttled, "ServiceUnavailableException"
	}
	if _, ok := errors.AsType[*smithy.DeserializationError](err); ok {
		// The call reached Firehose and an answer came back, but it could
		// not be read: the records may have landed.
		return Unknown, "UnreadableResponse"
	}
	if api, ok := errors.AsType[smithy.APIError](err); ok {
		code := api.ErrorCode()
		if c := ClassifyCode(code); c != Transient {
			return c, code
		}
		if api.ErrorFault() == smithy.FaultServer {
			return Transient, code
		}
		if re, ok := errors.AsType[*smithyhttp.ResponseError](err); ok && re.HTTPStatusCode() >= 500 {
			return Transient, code
		}
		if re, ok := errors.AsType[*smithyhttp.ResponseError](err); ok && re.HTTPStatusCode() == 403 {
			return Denied, code
		}
		return Transient, code
	}
	if re, ok := errors.AsType[*smithyhttp.ResponseError](err); ok {
		switch {
		case re.HTTPStatusCode() == 429:
			return Throttled, "HTTP429"
		case re.HTTPStatusCode() == 403:
			return Denied, "HTTP403"
		}
		return Transient, "HTTP" + strconv.Itoa(re.HTTPStatusCode())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// Our own request timeout: the request may be sitting in Firehose.
		return Unknown, "Timeout"
	}
	if _, ok := errors.AsType[*smithy.OperationError](err); ok {
		if isDialError(err) {
			return Transient, "ConnectFailed"
		}
	}
	// A transport error after the request was written: whether Firehose
	// processed it cannot be known.
	return Unknown, "ConnectionLost"
}

// isDialError reports an error from connecting, before anything was sent.
func isDialError(err error) bool {
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return true
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return true
	}
	return false
}

func isCredentialError(err error) bool {
	return strings.Contains(err.Error(), "failed to retrieve credentials") ||
		strings.Contains(err.Error(), "failed to refresh cached credentials")
}
