//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPreflight runs `firehose-worker check --connect` against the real
// broker and an emulator whose STS enforces trust policies, in four worlds:
// everything in place; a mapped stream that does not exist; a role that
// does not trust the worker; a topic that does not exist. Each run must
// print one line per check, exit 0 only when every check passed, name every
// problem on stderr, and never print the secret ID (read through
// secret_id_env) or the IAM user's secret key. When everything is in place,
// the emulator must have seen AssumeRole with the secret ID as External ID,
// and the dead-letter topic must hold the probe record, marked as such.
//
// Serial on purpose: it starts its own emulator on FHW_E2E_AWS_AUTH_PORT,
// the port TestRefusedRole uses, and serial tests finish before parallel
// ones start.
func TestPreflight(t *testing.T) {
	e := newEnv(t, "pf", false, false)
	em := e.startAuthEmulator()
	okRole, badRole := name("pf", "ok"), name("pf", "bad")
	creds := em.authOn([]string{okRole}, []string{badRole})

	topic, dlq := name("pf", "events"), name("pf", "dlq")
	e.createTopic(topic, 3)
	e.createTopic(dlq, 1)
	all, pages := name("pf", "all"), name("pf", "pages")
	em.env.createStreams(all, pages)
	missingTopic, missingStream := name("pf", "no-such-topic"), name("pf", "no-such-stream")
	secretID := "fhw-pf-secret-" + randomHex(12)

	type world struct {
		name    string
		role    string
		topics  []string
		streams []string
		// fails are the checks that must fail, as "FAIL  <check>: <detail
		// prefix>" lines; skips the checks that must be skipped.
		fails, skips []string
		// says is text stdout must show, such as STS's reason.
		says []string
	}
	src := "src_pf_" + runID
	streamLine := func(s string) string { return fmt.Sprintf("stream %s (source %s, %s)", s, src, region) }
	worlds := []world{
		{name: "all fine", role: creds.TrustedRoles[okRole], topics: []string{topic}, streams: []string{all, pages}},
		{name: "missing stream", role: creds.TrustedRoles[okRole], topics: []string{topic}, streams: []string{all, missingStream},
			fails: []string{streamLine(missingStream) + ": does not exist in " + region}},
		{name: "refused role", role: creds.UntrustedRoles[badRole], topics: []string{topic}, streams: []string{all, pages},
			fails: []string{fmt.Sprintf("role %s (source %s, %s): ", creds.UntrustedRoles[badRole], src, region)},
			skips: []string{streamLine(all), streamLine(pages)},
			says:  []string{"AccessDenied", "sts:ExternalId = the External ID from secret_id_env FHW_PF_SECRET_ID"}},
		{name: "missing topic", role: creds.TrustedRoles[okRole], topics: []string{topic, missingTopic}, streams: []string{all, pages},
			fails: []string{fmt.Sprintf("topic %s (source %s): does not exist", missingTopic, src)}},
	}
	for _, w := range worlds {
		t.Run(strings.ReplaceAll(w.name, " ", "_"), func(t *testing.T) {
			cfg := writePreflightConfig(t, src, w.topics, dlq, w.role, w.streams)
			stdout, stderr, code := runCheckConnect(t, cfg, append(em.workerEnv(), "FHW_PF_SECRET_ID="+secretID))
			t.Logf("check --connect (%s) exited %d:\n%s%s", w.name, code, stdout, stderr)
			for what, s := range map[string]string{"the secret ID": secretID, "the IAM user's secret key": creds.SecretAccessKey} {
				if strings.Contains(stdout+stderr, s) {
					t.Errorf("check --connect printed %s", what)
				}
			}
			lines := map[string]string{} // check -> status
			for l := range strings.Lines(stdout) {
				status, rest, ok := strings.Cut(strings.TrimRight(l, "\n"), "  ")
				if check, _, ok2 := strings.Cut(strings.TrimLeft(rest, " "), ": "); ok && ok2 && (status == "ok" || status == "FAIL" || status == "skip") {
					if _, dup := lines[check]; dup {
						t.Errorf("check %q is reported twice", check)
					}
					lines[check] = status
				}
			}
			wantChecks := []string{"kafka", "dead-letter topic " + dlq}
			for _, tp := range w.topics {
				wantChecks = append(wantChecks, fmt.Sprintf("topic %s (source %s)", tp, src))
			}
			wantChecks = append(wantChecks, fmt.Sprintf("role %s (source %s, %s)", w.role, src, region))
			for _, s := range w.streams {
				wantChecks = append(wantChecks, streamLine(s))
			}
			for _, c := range wantChecks {
				want := "ok"
				for _, f := range w.fails {
					if strings.HasPrefix(f, c+":") {
						want = "FAIL"
					}
				}
				for _, s := range w.skips {
					if s == c {
						want = "skip"
					}
				}
				if lines[c] != want {
					t.Errorf("check %q: status %q, want %q", c, lines[c], want)
				}
			}
			if len(lines) != len(wantChecks) {
				t.Errorf("%d checks reported, want %d (%v)", len(lines), len(wantChecks), wantChecks)
			}
			for _, s := range w.says {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q", s)
				}
			}
			for _, f := range w.fails {
				if !strings.Contains(stdout, "FAIL  "+f) {
					t.Errorf("stdout lacks the line %q", "FAIL  "+f)
				}
				check, _, _ := strings.Cut(f, ": ")
				if !strings.Contains(stderr, check+": ") {
					t.Errorf("stderr does not name the problem with %s", check)
				}
			}
			if len(w.fails) == 0 {
				if code != 0 || !strings.Contains(stdout, "every check passed") {
					t.Errorf("exit %d, want 0 and \"every check passed\"", code)
				}
			} else if code != 1 || !strings.Contains(stderr, fmt.Sprintf("%d problem(s) found", len(w.fails))) {
				t.Errorf("exit %d, want 1 and %d problem(s) named on stderr", code, len(w.fails))
			}
		})
	}
	if t.Failed() {
		return
	}

	// On the emulator's side: only the trusted role was assumed, always
	// with the secret ID as External ID.
	out, err := em.script("assumed-roles")
	if err != nil {
		t.Fatalf("scripts/aws.sh assumed-roles: %v", err)
	}
	assumed := 0
	for line := range strings.Lines(out) {
		var r assumedRole
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("scripts/aws.sh assumed-roles printed %q: %v", line, err)
		}
		switch r.RoleARN {
		case creds.TrustedRoles[okRole]:
			assumed++
			if r.ExternalID != secretID {
				t.Errorf("%s was assumed with an External ID that is not the secret ID from secret_id_env", r.RoleARN)
			}
		case creds.UntrustedRoles[badRole]:
			t.Errorf("the emulator granted AssumeRole for the untrusted role %s", r.RoleARN)
		}
	}
	if assumed == 0 {
		t.Errorf("the emulator saw no AssumeRole for %s", creds.TrustedRoles[okRole])
	}

	// The missing topic was looked up, not created.
	md, err := e.admin.Metadata(e.ctx(20*time.Second), missingTopic)
	if err != nil {
		t.Fatal(err)
	}
	if td, ok := md.Topics[missingTopic]; ok && td.Err == nil {
		t.Errorf("check --connect created topic %s", missingTopic)
	}

	// Each run that reached the dead-letter topic left one probe in it.
	probes := readProbes(t, dlq)
	if probes != len(worlds) {
		t.Errorf("the dead-letter topic holds %d probe records, want %d (one per run)", probes, len(worlds))
	}
}

func writePreflightConfig(t *testing.T, source string, topics []string, dlq, role string, streams []string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "kafka:\n  brokers: [%q]\n  dlq_topic: %q\nsources:\n  - id: %q\n    topics: [", kafkaAddr, dlq, source)
	for i, tp := range topics {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", tp)
	}
	fmt.Fprintf(&b, "]\n    region: %s\n    role_address: %q\n    secret_id_env: FHW_PF_SECRET_ID\n    mapped_streams:\n", region, role)
	fmt.Fprintf(&b, "      - {event: \"*\", stream: %q}\n      - {event: page, stream: %q}\n", streams[0], streams[1])
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCheckConnect(t *testing.T, cfg string, env []string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "check", "--connect", "--timeout", "20s", "--config", cfg)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running check --connect: %v", err)
	}
	return o.String(), e.String(), code
}

// readProbes counts the records of topic marked as preflight probes, and
// fails the test on any other record.
func readProbes(t *testing.T, topic string) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := 0
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			reason := ""
			for _, h := range r.Headers {
				if h.Key == "dlq.reason" {
					reason = string(h.Value)
				}
			}
			if reason != "preflight_probe" {
				t.Errorf("the dead-letter topic holds a record with dlq.reason %q, want only preflight probes", reason)
			}
			n++
		})
		hw := int64(0)
		fs.EachPartition(func(p kgo.FetchTopicPartition) { hw = p.HighWatermark })
		if hw > 0 && int64(n) >= hw {
			break
		}
	}
	return n
}
