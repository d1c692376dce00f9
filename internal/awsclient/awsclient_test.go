package awsclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/firehose-worker/firehose-worker/internal/firehosesim"
	"github.com/firehose-worker/firehose-worker/internal/itest"
)

// TestAssumesRoleWithExternalIDAndSharesClients runs the real SDK against an
// STS endpoint and a Firehose endpoint over HTTP, both found through the
// SDK's standard endpoint variables.
func TestAssumesRoleWithExternalIDAndSharesClients(t *testing.T) {
	sts := itest.StartSTS(t, "arn:aws:iam::123456789012:role/refused")
	var authMu sync.Mutex
	var auths []string
	sim := firehosesim.New(firehosesim.Options{AutoCreate: true})
	fhSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authMu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		authMu.Unlock()
		sim.ServeHTTP(w, r)
	}))
	defer fhSrv.Close()
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
	t.Setenv("AWS_ENDPOINT_URL_FIREHOSE", fhSrv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIABASE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "base-secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")

	f := New(Options{WorkerID: "host-1"})
	ctx := context.Background()
	role := "arn:aws:iam::123456789012:role/segment-firehose"
	a, err := f.Firehose(ctx, Key{Region: "us-west-2", RoleARN: role, ExternalID: "my-secret-id"}, "src_a")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := f.Firehose(ctx, Key{Region: "us-west-2", RoleARN: role, ExternalID: "my-secret-id"}, "src_b")
	if a != a2 {
		t.Error("two sources with the same region, role and External ID got different clients")
	}
	plain, _ := f.Firehose(ctx, Key{Region: "us-west-2"}, "src_c")
	if plain == a {
		t.Error("a source without a role shares the role's client")
	}
	put := func(c *firehose.Client) error {
		_, err := c.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("s"), Records: []types.Record{{Data: []byte("x\n")}}})
		return err
	}
	for range 3 {
		if err := put(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := put(plain); err != nil {
		t.Fatal(err)
	}
	calls := sts.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d AssumeRole calls for 3 puts, want 1 (credentials are cached)", len(calls))
	}
	c := calls[0]
	if c.Get("Action") != "AssumeRole" || c.Get("RoleArn") != role || c.Get("ExternalId") != "my-secret-id" {
		t.Errorf("AssumeRole form = %v", c)
	}
	if got := c.Get("RoleSessionName"); got != "fhw-host-1-src_a" {
		t.Errorf("RoleSessionName = %q", got)
	}
	if !strings.Contains(auths[0], "Credential=ASIAASSUMED/") {
		t.Errorf("role client signed with %q, want the assumed credentials", auths[0])
	}
	if !strings.Contains(auths[3], "Credential=AKIABASE/") {
		t.Errorf("plain client signed with %q, want the base credentials", auths[3])
	}

	refused, _ := f.Firehose(ctx, Key{Region: "us-west-2", RoleARN: "arn:aws:iam::123456789012:role/refused", ExternalID: "e"}, "src_d")
	err = put(refused)
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("put with a refused role = %v, want AccessDenied from STS", err)
	}
}

func TestSessionName(t *testing.T) {
	t.Parallel()
	if got := SessionName("host:1", "src/ü"); got != "fhw-host-1-src--" {
		t.Errorf("SessionName = %q", got)
	}
	if got := SessionName(strings.Repeat("h", 100), "s"); len(got) != 64 {
		t.Errorf("SessionName length = %d, want 64", len(got))
	}
}
