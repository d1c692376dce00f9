// Package awsclient builds the Firehose clients of the sources: one client per
// (region, role, External ID), shared by every source that uses the same, with
// assumed-role credentials cached and refreshed ahead of expiry.
//
// Endpoints and base credentials come from the SDK's standard environment
// (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_FIREHOSE, AWS_ENDPOINT_URL_STS, the
// default credential chain), so LocalStack and moto need no special flags.
package awsclient

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/firehose-worker/firehose-worker/internal/delivery"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

// Key identifies a client.
type Key struct {
	Region     string
	RoleARN    string
	ExternalID string
}

// String names the client without the External ID, which may be a secret.
func (k Key) String() string {
	if k.RoleARN == "" {
		return k.Region
	}
	return k.Region + " " + k.RoleARN
}

// Factory makes and caches clients. It is safe for concurrent use.
type Factory struct {
	http     *awshttp.BuildableClient
	worker   string
	metrics  *telemetry.Metrics
	load     func(ctx context.Context, region string) (aws.Config, error)
	mu       sync.Mutex
	clients  map[Key]*firehose.Client
	baseCfgs map[string]aws.Config
}

// Options configure a Factory.
type Options struct {
	// WorkerID goes into the role session name so CloudTrail shows which
	// worker and source assumed a role.
	WorkerID string
	// MaxConnsPerHost should be at least the number of concurrent calls.
	MaxConnsPerHost int
	Metrics         *telemetry.Metrics
}

// New returns a factory.
func New(opts Options) *Factory {
	if opts.Metrics == nil {
		opts.Metrics = telemetry.Discard()
	}
	conns := max(opts.MaxConnsPerHost, 16)
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = conns * 2
		tr.MaxIdleConnsPerHost = conns
		// Shorter than the idle timeouts of AWS load balancers and common
		// proxies, so we close idle connections before the server does and
		// never write a request onto a connection the server is closing.
		tr.IdleConnTimeout = 30 * time.Second
		// Request bodies run to several MB and answers to ~150 KB; the
		// 4 KiB defaults cost a system call per 4 KiB. Not more than
		// 16 KiB: every pooled connection keeps both buffers, and under a
		// soft memory limit idle bytes are collections.
		tr.WriteBufferSize = 16 << 10
		tr.ReadBufferSize = 16 << 10
	})
	f := &Factory{
		http:     hc,
		worker:   opts.WorkerID,
		metrics:  opts.Metrics,
		clients:  map[Key]*firehose.Client{},
		baseCfgs: map[string]aws.Config{},
	}
	f.load = func(ctx context.Context, region string) (aws.Config, error) {
		return awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region), awsconfig.WithHTTPClient(hc))
	}
	return f
}

// Firehose returns the client for key, creating it on first use. sourceID
// names the role session.
func (f *Factory) Firehose(ctx context.Context, key Key, sourceID string) (*firehose.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.clients[key]; ok {
		return c, nil
	}
	cfg, ok := f.baseCfgs[key.Region]
	if !ok {
		var err error
		cfg, err = f.load(ctx, key.Region)
		if err != nil {
			return nil, fmt.Errorf("loading AWS configuration for %s: %w", key.Region, err)
		}
		f.baseCfgs[key.Region] = cfg
	}
	var creds aws.CredentialsProvider = cfg.Credentials
	if key.RoleARN != "" {
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), key.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.ExternalID = aws.String(key.ExternalID)
			o.RoleSessionName = SessionName(f.worker, sourceID)
			o.Duration = time.Hour
		})
		creds = aws.NewCredentialsCache(&countingProvider{p: provider, m: f.metrics}, func(o *aws.CredentialsCacheOptions) {
			// Refresh well before expiry, spread out so many workers do not
			// all call STS at once.
			o.ExpiryWindow = 10 * time.Minute
			o.ExpiryWindowJitterFrac = 0.5
		})
	}
	c := firehose.NewFromConfig(cfg, func(o *firehose.Options) {
		o.Credentials = creds
		// Our delivery loop owns retries: the SDK's retryer would resend a
		// whole batch, including records that already succeeded.
		o.Retryer = aws.NopRetryer{}
		delivery.UseWireProtocol(o)
	})
	f.clients[key] = c
	return c, nil
}

type countingProvider struct {
	p aws.CredentialsProvider
	m *telemetry.Metrics
}

func (c *countingProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := c.p.Retrieve(ctx)
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	telemetry.Add(ctx, c.m.CredRefreshes, 1, telemetry.AttrOutcome.String(outcome))
	return creds, err
}

var sessionUnsafe = regexp.MustCompile(`[^\w+=,.@-]`)

// SessionName builds a valid role session name (2-64 of [\w+=,.@-]).
func SessionName(worker, source string) string {
	s := sessionUnsafe.ReplaceAllString("fhw-"+worker+"-"+source, "-")
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}
