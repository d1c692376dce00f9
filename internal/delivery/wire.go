package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/schemas"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
	"github.com/segmentio/asm/base64"
	"github.com/segmentio/encoding/json"
)

// wireProtocol is the SDK's awsJson1.1 protocol for Firehose with a lean
// path for PutRecordBatch, the one call the worker makes per batch. The SDK's
// generic serializer grows its buffer while base64-encoding 500 records, and
// its deserializer allocates a string per record ID we never read. Here the
// request body is sized exactly and written in one pass into a buffer reused
// from batch to batch (a RequestBody), with segmentio/asm's AVX2 base64 (5-6x
// the standard library's speed on 1 KB records, the largest single cost of a
// call), and the answer is read for error codes only. The SDK keeps
// everything else: endpoint resolution, credentials, signing, the HTTP
// client, and every other operation.
type wireProtocol struct {
	smithyhttp.ClientProtocol // the SDK's own, for everything else
}

// sdkWire is shared by every RequestBody: the SDK's protocol keeps no state
// per call.
var sdkWire = &wireProtocol{ClientProtocol: awsjson.New11(schemas.Firehose_20150804)}

// RequestBody is the body of one PutRecordBatch call: delivery builds it,
// hashes it and keeps its buffer for the next call (see Bodies), and hands
// it to the call as the call's protocol with Option. The records' Data lack
// their final newline, which is encoded after each: a Kafka value that is
// already compact JSON needs no copy to be framed.
//
// The SDK's contract this relies on: a per-call option may set
// Options.Protocol, and the SDK then calls its SerializeRequest with the
// PutRecordBatchInput; the Finalize step has a "ComputePayloadHash"
// middleware before which the hash may be given (see UseWireProtocol).
// TestRequestBodyIsWhatTheSDKSends fails if either changes.
type RequestBody struct {
	*wireProtocol
	b      []byte
	r      *guardedReader
	option func(*firehose.Options)
}

func newRequestBody() *RequestBody {
	rb := &RequestBody{wireProtocol: sdkWire}
	rb.option = func(o *firehose.Options) { o.Protocol = rb }
	return rb
}

// Option is the per-call option that makes the call send this body.
func (rb *RequestBody) Option() func(*firehose.Options) { return rb.option }

// done cuts the body off from the HTTP transport, which may still be reading
// the body of a call whose answer came early: detaching waits for that read
// and makes later ones fail, so the buffer is safe to reuse.
func (rb *RequestBody) done() {
	if rb.r != nil {
		rb.r.detach()
		rb.r = nil
	}
}

// SerializeRequest writes PutRecordBatch requests itself and hands every
// other operation to the SDK.
func (rb *RequestBody) SerializeRequest(ctx context.Context, op *smithy.OperationSchema, in smithy.Serializable, req *smithyhttp.Request) error {
	input, ok := in.(*firehose.PutRecordBatchInput)
	if !ok || op.ID().Name != "PutRecordBatch" {
		return rb.ClientProtocol.SerializeRequest(ctx, op, in, req)
	}
	req.Method = http.MethodPost
	if len(req.URL.Path) == 0 {
		req.URL.Path = "/"
	}
	req.Header.Set("X-Amz-Target", "Firehose_20150804.PutRecordBatch")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	rb.done() // an earlier attempt with the same body
	rb.b = appendBody(rb.b[:0], input, true)
	sum := sha256.Sum256(rb.b)
	rb.r = &guardedReader{r: bytes.NewReader(rb.b), hash: hex.EncodeToString(sum[:])}
	sreq, err := req.SetStream(rb.r)
	if err != nil {
		return fmt.Errorf("set stream: %w", err)
	}
	*req = *sreq
	return nil
}

// UseWireProtocol prepares a Firehose client's options for delivery's
// request bodies, once per client: it installs the middleware that hands
// the signer the payload hash computed when the body was written. Left to
// itself, the SDK's ComputePayloadSHA256 reads the body back through the
// stream in 32 KiB copies and rewinds it, which cost half as much again as
// the hashing. The body itself comes with each call (RequestBody.Option);
// calls without one are the SDK's own.
func UseWireProtocol(o *firehose.Options) {
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		return s.Finalize.Insert(knownPayloadHash{}, "ComputePayloadHash", middleware.Before)
	})
}

// knownPayloadHash gives the signer the hash of a RequestBody; the SDK's own
// middleware then skips.
type knownPayloadHash struct{}

func (knownPayloadHash) ID() string { return "FirehoseWorkerKnownPayloadHash" }

func (knownPayloadHash) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	if req, ok := in.Request.(*smithyhttp.Request); ok {
		if g, ok := req.GetStream().(*guardedReader); ok && g.hash != "" {
			ctx = v4.SetPayloadHash(ctx, g.hash)
		}
	}
	return next.HandleFinalize(ctx, in)
}

// appendBody appends the JSON body of in, as the SDK would write it, to
// dst; with newline, each record is sent as its Data followed by '\n'.
func appendBody(dst []byte, in *firehose.PutRecordBatchInput, newline bool) []byte {
	size := encodedSize(in, newline)
	if cap(dst)-len(dst) < size {
		// A quarter more than this body needs: pooled buffers serve
		// batches of every size, and growing one to the exact size of
		// each slightly larger batch reallocated (and zeroed) ~50 MB/s of
		// bodies on a backlog.
		dst = append(make([]byte, 0, len(dst)+size+size/4), dst...)
	}
	dst = append(dst, '{')
	if in.DeliveryStreamName != nil {
		dst = append(dst, `"DeliveryStreamName":`...)
		dst, _ = json.Append(dst, *in.DeliveryStreamName, 0)
		dst = append(dst, ',')
	}
	dst = append(dst, `"Records":[`...)
	for i, r := range in.Records {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"Data":"`...)
		dst = appendBase64(dst, r.Data, newline)
		dst = append(dst, `"}`...)
	}
	return append(dst, "]}"...)
}

// encodedSize bounds the body of in from above.
func encodedSize(in *firehose.PutRecordBatchInput, newline bool) int {
	extra := 0
	if newline {
		extra = 1
	}
	size := 64
	if in.DeliveryStreamName != nil {
		size += len(*in.DeliveryStreamName)
	}
	for _, r := range in.Records {
		size += 12 + base64.StdEncoding.EncodedLen(len(r.Data)+extra)
	}
	return size
}

// bodySize is the size of the body Deliver's calls send for in.
func bodySize(in *firehose.PutRecordBatchInput) int64 { return int64(encodedSize(in, true)) }

// appendBase64 appends the base64 of data, followed by a newline when
// newline is set, without copying data: base64 of whole 3-byte groups does
// not depend on what follows, so the groups before the last are encoded in
// place and only the last one, with the newline, by encodeGroup.
func appendBase64(dst, data []byte, newline bool) []byte {
	n := len(data)
	if newline {
		n++
	}
	need := base64.StdEncoding.EncodedLen(n)
	dst = slices.Grow(dst, need)
	at := len(dst)
	dst = dst[:at+need]
	if !newline {
		base64.StdEncoding.Encode(dst[at:], data)
		return dst
	}
	head := len(data) - len(data)%3
	base64.StdEncoding.Encode(dst[at:], data[:head])
	var tail [3]byte
	k := copy(tail[:], data[head:])
	tail[k] = '\n'
	encodeGroup(dst[at+head/3*4:], tail, k+1)
	return dst
}

const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// encodeGroup writes the padded standard base64 of the first n (1 to 3)
// bytes of g into dst[:4]. Handing the group to the asm encoder made it
// escape: one heap allocation per record, 500 per call.
func encodeGroup(dst []byte, g [3]byte, n int) {
	v := uint(g[0])<<16 | uint(g[1])<<8 | uint(g[2])
	dst[0] = base64Alphabet[v>>18&63]
	dst[1] = base64Alphabet[v>>12&63]
	dst[2], dst[3] = '=', '='
	if n > 1 {
		dst[2] = base64Alphabet[v>>6&63]
	}
	if n > 2 {
		dst[3] = base64Alphabet[v&63]
	}
}

// wireOutput is the part of a PutRecordBatch answer the worker reads.
type wireOutput struct {
	Encrypted        *bool  `json:"Encrypted"`
	FailedPutCount   *int32 `json:"FailedPutCount"`
	RequestResponses []struct {
		ErrorCode    *string `json:"ErrorCode"`
		ErrorMessage *string `json:"ErrorMessage"`
	} `json:"RequestResponses"`
}

var answerPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// DeserializeResponse reads successful PutRecordBatch answers itself and
// hands errors and every other operation to the SDK. Record IDs are not
// read: the worker has no use for them.
func (p *wireProtocol) DeserializeResponse(ctx context.Context, op *smithy.OperationSchema, reg *smithy.TypeRegistry, resp *smithyhttp.Response, out smithy.Deserializable) error {
	output, ok := out.(*firehose.PutRecordBatchOutput)
	if !ok || resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return p.ClientProtocol.DeserializeResponse(ctx, op, reg, resp, out)
	}
	buf := answerPool.Get().(*bytes.Buffer)
	defer answerPool.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return &smithy.DeserializationError{Err: fmt.Errorf("reading the PutRecordBatch answer: %w", err)}
	}
	var w wireOutput
	if _, err := json.Parse(buf.Bytes(), &w, json.DontMatchCaseInsensitiveStructFields); err != nil {
		return &smithy.DeserializationError{Err: fmt.Errorf("decoding the PutRecordBatch answer: %w", err)}
	}
	output.Encrypted = w.Encrypted
	output.FailedPutCount = w.FailedPutCount
	output.RequestResponses = make([]types.PutRecordBatchResponseEntry, len(w.RequestResponses))
	for i, rr := range w.RequestResponses {
		output.RequestResponses[i].ErrorCode = rr.ErrorCode
		output.RequestResponses[i].ErrorMessage = rr.ErrorMessage
	}
	return nil
}

// guardedReader is a request body that can be cut off from the HTTP
// transport once the call is over.
type guardedReader struct {
	hash string // hex SHA-256 of the body, for the signer

	mu       sync.Mutex
	r        *bytes.Reader
	detached bool
	reads    int // for TestRequestBodyIsWhatTheSDKSends: was it read back before sending
}

var errDetached = errors.New("request body reused after its call ended")

func (g *guardedReader) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.detached {
		return 0, errDetached
	}
	g.reads++
	return g.r.Read(p)
}

func (g *guardedReader) Seek(off int64, whence int) (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.detached {
		return 0, errDetached
	}
	return g.r.Seek(off, whence)
}

// Len lets the HTTP stack set Content-Length without reading.
func (g *guardedReader) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.r.Len()
}

func (g *guardedReader) detach() {
	g.mu.Lock()
	g.detached = true
	g.mu.Unlock()
}

var _ io.ReadSeeker = (*guardedReader)(nil)
