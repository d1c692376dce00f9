//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Firehose limits that one PutRecordBatch call, and so one object written by
// the emulator, must respect.
// https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html
const (
	maxRecordsPerCall = 500
	maxBytesPerCall   = 4 << 20
)

// createStreams creates DirectPut delivery streams writing to the bucket
// under the prefix "<stream>/", and deletes them, and on a pass their
// objects, when the test ends. moto allows only 50 streams per region.
func (e *env) createStreams(names ...string) {
	e.t.Helper()
	ctx := e.ctx(60 * time.Second)
	for _, n := range names {
		_, err := e.fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
			DeliveryStreamName: aws.String(n),
			DeliveryStreamType: fhtypes.DeliveryStreamTypeDirectPut,
			ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
				BucketARN:      aws.String("arn:aws:s3:::" + bucket),
				RoleARN:        aws.String("arn:aws:iam::" + account + ":role/firehose-delivery"),
				Prefix:         aws.String(n + "/"),
				BufferingHints: &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(60)},
			},
		})
		if err != nil {
			e.t.Fatalf("creating delivery stream %s: %v", n, err)
		}
		e.t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _ = e.fh.DeleteDeliveryStream(ctx, &firehose.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String(n), AllowForceDelete: aws.Bool(true)})
			if !e.t.Failed() {
				e.deleteObjects(ctx, n+"/")
			}
		})
	}
	eventually(e.t, 30*time.Second, 100*time.Millisecond, "the delivery streams to be ACTIVE", func() (bool, string) {
		for _, n := range names {
			d, err := e.fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(n)})
			if err != nil {
				return false, err.Error()
			}
			if s := d.DeliveryStreamDescription.DeliveryStreamStatus; s != fhtypes.DeliveryStreamStatusActive {
				return false, fmt.Sprintf("%s is %s", n, s)
			}
		}
		return true, ""
	})
}

func (e *env) deleteObjects(ctx context.Context, prefix string) {
	p := s3.NewListObjectsV2Paginator(e.s3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil || len(page.Contents) == 0 {
			return
		}
		ids := make([]s3types.ObjectIdentifier, len(page.Contents))
		for i, o := range page.Contents {
			ids[i] = s3types.ObjectIdentifier{Key: o.Key}
		}
		_, _ = e.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
	}
}

// delivery is what the emulator wrote to S3 for a set of streams: each
// object holds the records of one PutRecordBatch call, concatenated.
type sameBody struct {
	objects int
	records []string
}

type delivery struct {
	e       *env
	streams []string
	seen    map[string]bool           // object keys already read; objects never change
	got     map[string]map[string]int // stream -> record -> count
	objects map[string]int            // stream -> objects
	records int
	// bodies counts objects by content, per stream: the same content twice
	// is one batch sent twice (a resend after a call whose outcome the
	// worker could not know), as re-read messages are batched afresh.
	bodies map[string]map[string]*sameBody
	// problems are objects that one PutRecordBatch call could not have
	// written: a record without its '\n', over 500 records or 4 MiB, or a
	// key outside the "<stream>/YYYY/MM/DD/HH/<stream>-1-" layout.
	problems []string
	// pull, when set, replaces reading S3: it adds what an in-process
	// endpoint accepted since the last call (see simFirehose).
	pull func()
}

func (e *env) delivery(streams ...string) *delivery {
	d := &delivery{e: e, streams: streams, seen: map[string]bool{}, got: map[string]map[string]int{}, objects: map[string]int{},
		bodies: map[string]map[string]*sameBody{}}
	for _, s := range streams {
		d.got[s] = map[string]int{}
		d.bodies[s] = map[string]*sameBody{}
	}
	return d
}

// refresh reads the objects written since the last call.
func (d *delivery) refresh(ctx context.Context) error {
	if d.pull != nil {
		d.pull()
		return nil
	}
	for _, s := range d.streams {
		keyRE := regexp.MustCompile(`^` + regexp.QuoteMeta(s) + `/\d{4}/\d{2}/\d{2}/\d{2}/` + regexp.QuoteMeta(s) + `-1-`)
		p := s3.NewListObjectsV2Paginator(d.e.s3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(s + "/")})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("listing %s/: %w", s, err)
			}
			for _, o := range page.Contents {
				key := aws.ToString(o.Key)
				if d.seen[key] {
					continue
				}
				body, err := d.get(ctx, key)
				if err != nil {
					return err
				}
				d.seen[key] = true
				d.objects[s]++
				if !keyRE.MatchString(key) {
					d.problems = append(d.problems, "unexpected key layout: "+key)
				}
				d.add(s, key, body)
			}
		}
	}
	return nil
}

func (d *delivery) get(ctx context.Context, key string) ([]byte, error) {
	out, err := d.e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("reading s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// add splits an object into its records. A compact JSON record holds no
// raw '\n', so each '\n' ends exactly one record.
func (d *delivery) add(stream, key string, body []byte) {
	if len(body) > maxBytesPerCall {
		d.problems = append(d.problems, fmt.Sprintf("%s: %d bytes, over one call's %d", key, len(body), maxBytesPerCall))
	}
	recs := bytes.SplitAfter(body, []byte{'\n'})
	if last := recs[len(recs)-1]; len(last) == 0 {
		recs = recs[:len(recs)-1]
	} else {
		d.problems = append(d.problems, fmt.Sprintf("%s: ends in a record without '\\n': %.80q", key, last))
	}
	if len(recs) > maxRecordsPerCall {
		d.problems = append(d.problems, fmt.Sprintf("%s: %d records, over one call's %d", key, len(recs), maxRecordsPerCall))
	}
	if d.bodies == nil { // not kept: a run too large to hold every object twice
		for _, r := range recs {
			d.got[stream][string(r)]++
			d.records++
		}
		return
	}
	same := d.bodies[stream][string(body)]
	if same == nil {
		same = &sameBody{}
		d.bodies[stream][string(body)] = same
	}
	same.objects++
	for _, r := range recs {
		d.got[stream][string(r)]++
		d.records++
		if same.objects == 1 {
			same.records = append(same.records, string(r))
		}
	}
}

// resent returns, per stream, the extra copies of records that arrived in
// an object identical to an earlier one.
func (d *delivery) resent() map[string]map[string]int {
	out := map[string]map[string]int{}
	for s, bodies := range d.bodies {
		out[s] = map[string]int{}
		for _, b := range bodies {
			for _, r := range b.records {
				out[s][r] += b.objects - 1
			}
		}
	}
	return out
}

// assumedRole is one successful AssumeRole call as moto lists it.
type assumedRole struct {
	RoleARN     string `json:"role_arn"`
	SessionName string `json:"session_name"`
	ExternalID  string `json:"external_id"`
	AccountID   string `json:"account_id"`
}

// assumedRoles returns the successful AssumeRole calls the emulator has seen,
// from GET /moto-api/data.json (sts.AssumedRole), as scripts/aws.sh
// assumed-roles prints them.
func (e *env) assumedRoles(ctx context.Context) ([]assumedRole, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, awsURL+"/moto-api/data.json", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /moto-api/data.json: %s", resp.Status)
	}
	var data struct {
		STS struct {
			AssumedRole []assumedRole `json:"AssumedRole"`
		} `json:"sts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&data); err != nil {
		return nil, fmt.Errorf("decoding /moto-api/data.json: %w", err)
	}
	return data.STS.AssumedRole, nil
}
