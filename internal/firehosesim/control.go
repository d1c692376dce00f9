package firehosesim

import (
	"net/http"
	"slices"

	"github.com/segmentio/encoding/json"
)

// control serves the control-plane operations the worker and the sandbox
// use: enough of DescribeDeliveryStream, ListDeliveryStreams and
// CreateDeliveryStream for readiness checks and set-up. They see Block and
// RejectStream but no other fault, and are not counted in Stats.
func (s *Server) control(w http.ResponseWriter, op string, body []byte, requestID string) {
	if s.faults.isBlocked() {
		writeAPIError(w, newAPIError(CodeServiceUnavailable, msgSlowDown), requestID)
		return
	}
	var in struct {
		DeliveryStreamName               *string
		Limit                            *int
		ExclusiveStartDeliveryStreamName *string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeAPIError(w, serializationError(err.Error()), requestID)
		return
	}
	var (
		out    any
		apiErr *apiError
	)
	switch op {
	case "ListDeliveryStreams":
		out = s.listStreams(in.Limit, in.ExclusiveStartDeliveryStreamName)
	case "DescribeDeliveryStream":
		out, apiErr = s.describeStream(in.DeliveryStreamName)
	case "CreateDeliveryStream":
		out, apiErr = s.createStream(in.DeliveryStreamName)
	}
	if apiErr != nil {
		writeAPIError(w, apiErr, requestID)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeAPIError(w, newAPIError(CodeInternalFailure, "encoding the answer: "+err.Error()), requestID)
		return
	}
	writeJSON(w, http.StatusOK, b, requestID)
}

// checkName applies the name constraints and RejectStream to a control call.
func (s *Server) checkName(name *string) *apiError {
	if name == nil {
		return newAPIError(CodeValidation, "1 validation error detected: Value null at 'deliveryStreamName' failed to satisfy constraint: Member must not be null")
	}
	req := putRequest{stream: []byte(*name), hasRecord: true, records: [][]byte{{}}}
	if err := validatePut(&req, false); err != nil {
		return err
	}
	return s.faults.rejection(req.stream)
}

type streamDescription struct {
	DeliveryStreamName   string
	DeliveryStreamARN    string
	DeliveryStreamStatus string
	DeliveryStreamType   string
	VersionID            string `json:"VersionId"`
	CreateTimestamp      float64
	Destinations         []struct{}
	HasMoreDestinations  bool
}

func (s *Server) describeStream(name *string) (any, *apiError) {
	if err := s.checkName(name); err != nil {
		return nil, err
	}
	st, ok := s.lookup([]byte(*name))
	if !ok {
		return nil, s.notFound(*name)
	}
	return struct{ DeliveryStreamDescription streamDescription }{streamDescription{
		DeliveryStreamName:   st.name,
		DeliveryStreamARN:    st.arn,
		DeliveryStreamStatus: "ACTIVE",
		DeliveryStreamType:   "DirectPut",
		VersionID:            deliveryStreamVersionID,
		CreateTimestamp:      float64(st.created.UnixMilli()) / 1000, // awsJson timestamps are epoch seconds
		Destinations:         []struct{}{},
	}}, nil
}

func (s *Server) createStream(name *string) (any, *apiError) {
	if err := s.checkName(name); err != nil {
		return nil, err
	}
	st, created := s.create(*name)
	if !created {
		return nil, newAPIError(CodeResourceInUse, "Firehose "+*name+" under account "+s.account+" already exists.")
	}
	return struct{ DeliveryStreamARN string }{st.arn}, nil
}

// listStreams pages through the sorted stream names; the default page of 10
// is the service's documented default Limit.
func (s *Server) listStreams(limit *int, after *string) any {
	n := 10
	if limit != nil && *limit > 0 {
		n = *limit
	}
	s.mu.RLock()
	names := make([]string, 0, len(s.streams))
	for name := range s.streams {
		if after == nil || name > *after {
			names = append(names, name)
		}
	}
	s.mu.RUnlock()
	slices.Sort(names)
	more := len(names) > n
	if more {
		names = names[:n]
	}
	return struct {
		DeliveryStreamNames    []string
		HasMoreDeliveryStreams bool
	}{names, more}
}
