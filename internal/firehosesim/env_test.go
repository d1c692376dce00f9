package firehosesim

import (
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
)

// TestEndpointFromEnvironment reaches the Server the way the worker's
// awsclient does: the SDK's default configuration with the service-specific
// endpoint variable, and nothing in code pointing at the simulator.
// Not parallel: it sets environment variables.
func TestEndpointFromEnvironment(t *testing.T) {
	sink := NewMemorySink()
	srv := New(Options{Streams: []string{"env"}, Sink: sink})
	ep, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ep.Close(t.Context()) }()

	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-west-2")
	t.Setenv("AWS_ENDPOINT_URL_FIREHOSE", ep.URL)
	cfg, err := config.LoadDefaultConfig(t.Context(), config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }))
	if err != nil {
		t.Fatalf("LoadDefaultConfig: %v", err)
	}
	c := firehose.NewFromConfig(cfg)
	records := makeRecords("e", 3, 20)
	mustPutBatch(t, c, "env", records)
	equalRecords(t, "sink", sink.Records("env"), records)
}
