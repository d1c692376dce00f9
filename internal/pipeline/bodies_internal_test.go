package pipeline

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/delivery"
)

type nopClient struct{}

func (nopClient) PutRecordBatch(context.Context, *firehose.PutRecordBatchInput, ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error) {
	return &firehose.PutRecordBatchOutput{}, nil
}

// TestBodiesAreBoundedByHalfTheMemoryCap guards the wiring: a pipeline
// built without the shared body bound once passed the unit tests of both
// packages while every call allocated its body afresh and nothing bounded
// them.
func TestBodiesAreBoundedByHalfTheMemoryCap(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Kafka.Brokers = []string{"127.0.0.1:1"}
	cfg.Kafka.GroupID = "g"
	cfg.Sources = []config.Source{{ID: "s", Topics: []string{"t"}, Region: "us-west-2", Routing: config.RoutingAll,
		MappedStreams: []config.Mapping{{Event: "*", Stream: "a"}, {Event: "page", Stream: "b"}}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := New(t.Context(), &cfg, Deps{Clients: func(context.Context, config.Source) (delivery.PutRecordBatcher, error) { return nopClient{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if p.bodies == nil || p.bodies.Size() != int64(cfg.Memory.MaxBufferedBytes)/2 {
		t.Fatalf("body bound %v, want half of memory.max_buffered_bytes", p.bodies)
	}
	for _, d := range p.dests {
		if d.stream.Bodies() != p.bodies {
			t.Errorf("stream %s does not share the pipeline's body bound", d.stream.Name())
		}
	}
}
