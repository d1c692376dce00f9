package preflight

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/deadletter"
	"github.com/firehose-worker/firehose-worker/internal/firehosesim"
	"github.com/firehose-worker/firehose-worker/internal/itest"
)

const (
	okRole      = "arn:aws:iam::123456789012:role/ok"
	refusedRole = "arn:aws:iam::123456789012:role/refused"
)

// TestRun checks the preflight in process against a broker speaking the
// Kafka protocol (kfake), a Firehose endpoint over HTTP that knows only the
// streams it was given, and an STS endpoint that refuses one role. The
// end-to-end test (internal/e2e, TestPreflight) does the same against
// Apache Kafka and moto.
func TestRun(t *testing.T) {
	// Not parallel: the AWS endpoints come from the environment, as in the
	// worker.
	k := itest.StartKafka(t, 2, "events", "other", "dlq")
	fh := httptest.NewServer(firehosesim.New(firehosesim.Options{Streams: []string{"all", "pages"}, Region: "us-west-2"}))
	t.Cleanup(fh.Close)
	sts := itest.StartSTS(t, refusedRole)
	t.Setenv("AWS_ENDPOINT_URL_FIREHOSE", fh.URL)
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "base-secret-key")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("PF_SECRET_ID", "pf-secret-hunter2")

	cases := []struct {
		name   string
		config string
		// want maps checks to their status; every check must be listed.
		want map[string]Status
	}{
		{"all fine", `
sources:
  - {id: a, topics: [events], region: us-west-2, role_address: ` + okRole + `, secret_id_env: PF_SECRET_ID,
     mapped_streams: [{event: "*", stream: all}, {event: page, stream: pages}]}
  - {id: b, topics: [other], region: us-west-2, mapped_streams: [{event: "*", stream: all}]}
`, map[string]Status{
			"kafka": OK, "topic events (source a)": OK, "topic other (source b)": OK, "dead-letter topic dlq": OK,
			"role " + okRole + " (source a, us-west-2)": OK, "stream all (source a, us-west-2)": OK, "stream pages (source a, us-west-2)": OK,
			"aws identity (source b, us-west-2)": OK, "stream all (source b, us-west-2)": OK,
		}},
		{"a missing stream, a refused role, a missing topic, an unset secret", `
sources:
  - {id: a, topics: [events, nope], region: us-west-2, role_address: ` + okRole + `, secret_id_env: PF_SECRET_ID,
     mapped_streams: [{event: "*", stream: all}, {event: page, stream: typo}]}
  - {id: b, topics: [other], region: us-west-2, role_address: ` + refusedRole + `, mapped_streams: [{event: "*", stream: all}]}
  - {id: c, topics: [c], region: us-west-2, role_address: ` + okRole + `, secret_id_env: PF_UNSET, mapped_streams: [{event: "*", stream: all}]}
`, map[string]Status{
			"kafka": OK, "topic events (source a)": OK, "topic nope (source a)": Failed, "topic other (source b)": OK,
			"topic c (source c)": Failed, "dead-letter topic dlq": OK,
			"role " + okRole + " (source a, us-west-2)": OK, "stream all (source a, us-west-2)": OK, "stream typo (source a, us-west-2)": Failed,
			"role " + refusedRole + " (source b, us-west-2)": Failed, "stream all (source b, us-west-2)": Skipped,
			"role " + okRole + " (source c, us-west-2)": Failed, "stream all (source c, us-west-2)": Skipped,
		}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			doc := fmt.Sprintf("kafka: {brokers: [%q], dlq_topic: dlq}\n", k.Brokers[0]) + c.config
			cfg, err := config.Parse([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			results, err := Run(context.Background(), cfg, Options{WorkerID: "test"})
			var out strings.Builder
			got := map[string]Status{}
			for _, r := range results {
				fmt.Fprintln(&out, r)
				if _, dup := got[r.Check]; dup {
					t.Errorf("%s reported twice", r.Check)
				}
				got[r.Check] = r.Status
			}
			for check, status := range c.want {
				if got[check] != status {
					t.Errorf("%s: %q, want %q", check, got[check], status)
				}
			}
			for check := range got {
				if _, ok := c.want[check]; !ok {
					t.Errorf("unexpected check %s", check)
				}
			}
			failed := 0
			for _, s := range c.want {
				if s == Failed {
					failed++
				}
			}
			switch {
			case failed == 0 && err != nil:
				t.Errorf("Run = %v, want nil", err)
			case failed > 0 && (err == nil || strings.Count(err.Error(), "\n")+1 != failed):
				t.Errorf("Run error names %v, want %d problems", err, failed)
			}
			for _, secret := range []string{"pf-secret-hunter2", "base-secret-key", "assumed-secret"} {
				if strings.Contains(out.String(), secret) || (err != nil && strings.Contains(err.Error(), secret)) {
					t.Errorf("a secret is printed:\n%s", out.String())
				}
			}
			if t.Failed() {
				t.Logf("results:\n%s", out.String())
			}
		})
	}

	// The secret ID went to STS as the External ID of the trusted role.
	var ext []string
	for _, call := range sts.Calls() {
		if call.Get("RoleArn") == okRole {
			ext = append(ext, call.Get("ExternalId"))
		}
	}
	if len(ext) == 0 || slices.ContainsFunc(ext, func(e string) bool { return e != "pf-secret-hunter2" }) {
		t.Errorf("AssumeRole of %s with External IDs %q, want the secret ID each time", okRole, ext)
	}
	// A lookup did not create the missing topic, and each run left one
	// marked probe in the dead-letter topic.
	if md, err := k.Admin.Metadata(context.Background(), "nope"); err != nil || md.Topics["nope"].Err == nil {
		t.Errorf("topic nope exists after the preflight looked it up (%v)", err)
	}
	probes := k.Consume(t, "dlq")
	if len(probes) != len(cases) {
		t.Fatalf("the dead-letter topic holds %d records, want %d probes", len(probes), len(cases))
	}
	for _, p := range probes {
		reason := ""
		for _, h := range p.Headers {
			if h.Key == deadletter.HeaderReason {
				reason = string(h.Value)
			}
		}
		if reason != ProbeReason {
			t.Errorf("probe record has %s %q, want %q", deadletter.HeaderReason, reason, ProbeReason)
		}
	}
}
