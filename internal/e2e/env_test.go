//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// env is one test's handle on the services. Build it with newEnv.
type env struct {
	t     *testing.T
	short string // the test's part of resource names
	start time.Time
	admin *kadm.Client
	fh    *firehose.Client
	s3    *s3.Client
}

var (
	clientsOnce sync.Once
	admin       *kadm.Client
	awsCfg      aws.Config
	bucketOnce  sync.Once
	bucketErr   error
)

// newEnv checks that Kafka and the emulator answer, failing the test with
// the script that starts the missing one, and returns the clients. With
// parallel it calls t.Parallel first; exclusive tests (the broker restart)
// run with no other test of this binary.
//
// The lock is taken after t.Parallel on purpose: a paused parallel test
// holding it would deadlock the serial exclusive test.
func newEnv(t *testing.T, short string, parallel, exclusive bool) *env {
	t.Helper()
	if parallel {
		t.Parallel()
	}
	if exclusive {
		brokerLock.Lock()
		t.Cleanup(brokerLock.Unlock)
	} else {
		brokerLock.RLock()
		t.Cleanup(brokerLock.RUnlock)
	}
	clientsOnce.Do(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr))
		if err != nil {
			panic(err) // only on invalid options
		}
		admin = kadm.NewClient(cl)
		awsCfg = aws.Config{
			Region:       region,
			Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
			BaseEndpoint: aws.String(awsURL),
		}
	})
	requireKafka(t)
	requireAWS(t)
	e := &env{
		t:     t,
		short: short,
		start: time.Now(),
		admin: admin,
		fh:    firehose.NewFromConfig(awsCfg),
		s3:    s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true }),
	}
	bucketOnce.Do(func() { bucketErr = e.ensureBucket() })
	if bucketErr != nil {
		t.Fatalf("bucket %s: %v", bucket, bucketErr)
	}
	return e
}

// requireKafka fails the test unless a broker answers a metadata request.
func requireKafka(t *testing.T) {
	t.Helper()
	fail := func(err error) {
		t.Helper()
		t.Fatalf("Kafka is not reachable at %s: start it with scripts/kafka.sh start (KAFKA_PORT=%s) (%v)", kafkaAddr, port(kafkaAddr), err)
	}
	c, err := net.DialTimeout("tcp", kafkaAddr, 3*time.Second)
	if err != nil {
		fail(err)
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := admin.ListBrokers(ctx); err != nil {
		fail(err)
	}
}

// requireAWS fails the test unless moto's own API answers.
func requireAWS(t *testing.T) {
	t.Helper()
	fail := func(err error) {
		t.Helper()
		t.Fatalf("the AWS emulator is not reachable at %s: start it with scripts/aws.sh start (AWS_EMULATOR_PORT=%s) (%v)", awsURL, port(awsURL), err)
	}
	hc := http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(awsURL + "/moto-api/config")
	if err != nil {
		fail(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 { // moto answers 201
		fail(fmt.Errorf("GET /moto-api/config: %s", resp.Status))
	}
}

func port(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i+1:]
	}
	return addr
}

func (e *env) ensureBucket() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{
		Bucket:                    aws.String(bucket),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)},
	})
	var owned *s3types.BucketAlreadyOwnedByYou
	var exists *s3types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return err
	}
	return nil
}

// ctx returns a context bounded by d that ends with the test.
func (e *env) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	e.t.Cleanup(cancel)
	return ctx
}

// workerEnv is the environment of a worker process: the caller's, minus
// anything AWS, plus the emulator's endpoint and test keys. AWS_REGION is
// left out on purpose: every source names its region.
func workerEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") {
			continue
		}
		out = append(out, kv)
	}
	return append(out,
		"AWS_ENDPOINT_URL="+awsURL,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	)
}

// eventually polls cond every interval until it returns true, or fails the
// test after timeout with what and cond's last status.
func eventually(t *testing.T, timeout, interval time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, status := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, status)
		}
		time.Sleep(interval)
	}
}
