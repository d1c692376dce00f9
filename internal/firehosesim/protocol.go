package firehosesim

import (
	"net/http"
	"strconv"
	"unicode/utf8"
)

// Limits of PutRecordBatch and PutRecord. AWS states they cannot be changed:
// https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html
// https://docs.aws.amazon.com/firehose/latest/dev/limits.html
const (
	// MaxBatchRecords is the most records one PutRecordBatch may carry.
	MaxBatchRecords = 500
	// MaxRecordBytes is the largest record, counted before base64 encoding
	// (1,000 KiB). The model's length constraint on Record.Data is 1024000.
	MaxRecordBytes = 1_024_000
	// MaxBatchBytes is the most record data, summed before base64 encoding,
	// one PutRecordBatch may carry ("4 MiB per call" in the quota page).
	MaxBatchBytes = 4 << 20
)

// Error codes the simulator answers with. The modelled ones become typed
// errors in aws-sdk-go-v2 (*types.ResourceNotFoundException and so on); the
// others arrive as *smithy.GenericAPIError with that code.
const (
	CodeServiceUnavailable = "ServiceUnavailableException" // modelled, HTTP 503
	CodeResourceNotFound   = "ResourceNotFoundException"   // modelled, HTTP 400
	CodeResourceInUse      = "ResourceInUseException"      // modelled, HTTP 400
	CodeInvalidArgument    = "InvalidArgumentException"    // modelled, HTTP 400
	CodeInvalidKMSResource = "InvalidKMSResourceException" // modelled, HTTP 400
	CodeValidation         = "ValidationException"         // not modelled, HTTP 400
	CodeAccessDenied       = "AccessDeniedException"       // not modelled, HTTP 400
	CodeSerialization      = "SerializationException"      // not modelled, HTTP 400
	CodeUnknownOperation   = "UnknownOperationException"   // not modelled, HTTP 400
	CodeInternalFailure    = "InternalFailure"             // per-record code; HTTP 500 for a whole call
)

const (
	msgSlowDown             = "Slow down."
	msgInternalFailure      = "Internal service failure."
	contentTypeJSON11       = "application/x-amz-json-1.1"
	targetPrefix            = "Firehose_20150804."
	headerTarget            = "X-Amz-Target"
	headerErrorType         = "X-Amzn-Errortype" // canonical form of x-amzn-ErrorType
	headerRequestID         = "X-Amzn-Requestid" // canonical form of x-amzn-RequestId
	defaultAccountID        = "000000000000"
	defaultRegion           = "us-east-1"
	defaultMaxBodyBytes     = 32 << 20
	deliveryStreamVersionID = "1"
)

// statusForCode is the HTTP status real Firehose uses for a whole-call error.
// The Smithy model gives ServiceUnavailableException @httpError(503); every
// other modelled error is a client error, which awsJson1_1 sends as 400.
func statusForCode(code string) int {
	switch code {
	case CodeServiceUnavailable:
		return http.StatusServiceUnavailable
	case CodeInternalFailure:
		return http.StatusInternalServerError
	default:
		return http.StatusBadRequest
	}
}

// apiError is a whole-call failure, written as an awsJson1_1 error response.
type apiError struct {
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newAPIError(code, message string) *apiError {
	return &apiError{code: code, message: message}
}

// writeAPIError answers with the error in both places aws-sdk-go-v2 looks:
// the X-Amzn-ErrorType header wins over the body's __type, and the body's
// "message" becomes ErrorMessage().
func writeAPIError(w http.ResponseWriter, e *apiError, requestID string) {
	b := make([]byte, 0, 64+len(e.code)+len(e.message))
	b = append(b, `{"__type":`...)
	b = appendJSONString(b, e.code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, e.message)
	b = append(b, '}')
	h := w.Header()
	h.Set(headerErrorType, e.code)
	writeJSON(w, statusForCode(e.code), b, requestID)
}

// writeJSON writes a complete JSON answer with an explicit Content-Length, so
// the connection stays reusable and the client never has to guess where the
// body ends.
func writeJSON(w http.ResponseWriter, status int, body []byte, requestID string) {
	h := w.Header()
	h["Content-Type"] = []string{contentTypeJSON11}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	if requestID != "" {
		h[headerRequestID] = []string{requestID}
	}
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client going away is not our error to report
}

// appendJSONString appends s as a quoted JSON string. Error codes and
// messages are configurable, so they are escaped rather than trusted.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
