//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/firehose-worker/firehose-worker/internal/eventgen"
)

// refusedShutdown is the worker's shutdown_timeout in TestRefusedRole: the
// refused source's records never drain, so a SIGTERM waits all of it.
// exitSlack is what the final commit and leaving the group may add, on a
// broker that serves the other tests meanwhile; that the drain itself was
// bounded by shutdown_timeout is read from the log (see releasedAfter).
const (
	refusedShutdown = 3 * time.Second
	exitSlack       = 10 * time.Second
)

// TestRefusedRole runs one worker with two sources against an emulator
// whose STS enforces trust policies. Source A's role trusts the worker's
// IAM user; source B's role does not, so every AssumeRole for B is answered
// 403 AccessDenied. Then:
//   - every one of A's events arrives in A's streams, exactly once;
//   - B's partitions wait: while the worker runs and after it stops, the
//     group has committed nothing of B, B's stream holds nothing, and the
//     worker read all of B's messages but finished, dropped or dead-lettered
//     none of them;
//   - the worker logs the AccessDenied for B's stream, and neither its log
//     nor /readyz, /healthz or /metrics shows the IAM user's secret key or
//     B's secret_id;
//   - SIGTERM stops it with status 0 within shutdown_timeout (plus the final
//     commit), although B's records never drain;
//   - nothing was lost: once B's role trusts the worker, a new worker in the
//     same group delivers every one of B's events, exactly once.
//
// IAM enforcement is server-wide in moto, so the test runs its own emulator
// (scripts/aws.sh on FHW_E2E_AWS_AUTH_PORT, or on a free port) and stops it
// at the end; Kafka is the shared broker.
func TestRefusedRole(t *testing.T) {
	e := newEnv(t, "rr", true, false)
	em := e.startAuthEmulator()
	okRole, badRole := name("rr", "ok"), name("rr", "bad")
	creds := em.authOn([]string{okRole}, []string{badRole})
	ae := em.env // AWS calls go to the test's own emulator, signed as the IAM user

	a := sourceConfig{
		id:     "src_a_" + runID,
		topics: []string{name("rr", "a")},
		role:   creds.TrustedRoles[okRole],
	}
	b := sourceConfig{
		id:     "src_b_" + runID,
		topics: []string{name("rr", "b")},
		role:   creds.UntrustedRoles[badRole],
		secret: "fhw-secret-" + randomHex(12),
	}
	sa := streamSet{All: name("rr", "a-all"), Pages: name("rr", "a-pages")}
	sb := streamSet{All: name("rr", "b-all")}
	a.rows = []row{{"*", sa.All}, {"page", sa.Pages}}
	b.rows = []row{{"*", sb.All}}
	const partitions = 3
	group := name("rr")
	for _, s := range []sourceConfig{a, b} {
		e.createTopic(s.topics[0], partitions)
	}
	ae.createStreams(append(sa.names(), sb.names()...)...)
	e.deleteGroupOnPass(group)

	ledA := newLedger(map[string][]row{a.topics[0]: a.rows})
	ledB := newLedger(map[string][]row{b.topics[0]: b.rows})
	const eventsA, eventsB = 400, 300
	e.produce(ledA, a.topics[0], newSource(8, false), eventsA)
	e.produce(ledB, b.topics[0], deliverableSource(9), eventsB)
	if _, recs := ledB.count(); recs != eventsB {
		// Every B message must need delivery, or its partition could
		// rightly commit past a skipped one.
		t.Fatalf("source B: %d of %d messages need delivery: %s", recs, eventsB, ledB.describeMix())
	}
	secrets := map[string]string{"the IAM user's secret access key": creds.SecretAccessKey, "source B's secret_id": b.secret}

	cfg := e.writeConfig(workerConfig{group: group, sources: []sourceConfig{a, b}, logLevel: "debug"})
	editConfig(t, cfg,
		"shutdown_timeout: 15s\n", fmt.Sprintf("shutdown_timeout: %s\n", refusedShutdown),
		"http:\n  address: \"\"\n", "http:\n  address: \"127.0.0.1:0\"\n")
	w1 := ae.startWorkerWithEnv("w1", cfg, em.workerEnv())

	// A flows.
	dA := ae.delivery(sa.names()...)
	oA := ae.waitDelivered(ledA, dA, group, 40*time.Second)
	ae.check(ledA, dA, oA)
	dupsA := ledA.duplicates(dA, nil)
	e.judgeDuplicates(dupsA, w1)
	for _, s := range dA.streams {
		if oA.Objects[s] == 0 {
			t.Errorf("stream %s received nothing", s)
		}
	}

	// B is refused, and says so.
	var denial map[string]any
	eventually(t, 20*time.Second, 100*time.Millisecond, "the worker to log B's refused role", func() (bool, string) {
		for _, l := range jsonLines(w1) {
			if isDenial(l, sb.All) {
				denial = l
				return true, ""
			}
		}
		return false, "no denied PutRecordBatch for " + sb.All
	})
	msg := str(denial, "error")
	for _, want := range []string{"AccessDenied", "sts:AssumeRole", creds.UserARN} {
		if !strings.Contains(msg, want) {
			t.Errorf("the denial for %s does not mention %q: %s", sb.All, want, msg)
		}
	}
	t.Logf("worker logged for %s: %s (class %s, code %s): %s", sb.All, str(denial, "msg"), str(denial, "class"), str(denial, "code"), msg)

	// B waits: nothing committed, nothing delivered.
	dB := ae.delivery(sb.names()...)
	ae.checkWaiting("while the worker runs", group, b.topics[0], partitions, dB)

	// The health endpoints answer and show no secret.
	addr := httpAddress(t, w1)
	for _, path := range []string{"/readyz", "/healthz", "/metrics"} {
		status, body := httpGet(t, "http://"+addr+path)
		for what, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("%s shows %s", path, what)
			}
		}
		if path == "/readyz" {
			t.Logf("/readyz while B is refused: %d %s", status, strings.TrimSpace(body))
		}
	}

	// SIGTERM: B's records never drain; the worker must still stop on time.
	sigterm := time.Now()
	e.signal(w1, syscall.SIGTERM)
	if err := e.waitExit(w1, refusedShutdown+exitSlack); err != nil {
		t.Errorf("SIGTERM: worker exited with %v, want status 0", err)
	}
	took := time.Since(sigterm)
	t.Logf("worker exited %s after SIGTERM (shutdown_timeout %s)", took.Round(10*time.Millisecond), refusedShutdown)

	// After the final commit, B still waits where it started.
	ae.checkWaiting("after the worker stopped", group, b.topics[0], partitions, dB)
	msgsA, _ := ledA.count()
	stopped := lastLine(w1, "firehose-worker stopped")
	consumed, finished, dropped := num(stopped, "consumed"), num(stopped, "finished"), num(stopped, "dropped")
	if consumed != msgsA+eventsB || finished != msgsA || dropped != 0 {
		t.Errorf("worker stopped with consumed %d, finished %d, dropped %d; want %d consumed (all of A and B), %d finished (A only), 0 dropped",
			consumed, finished, dropped, msgsA+eventsB, msgsA)
	}
	checkNoSecrets(t, w1, secrets)
	if got := releasedAfter(w1, b.topics[0]); len(got) != partitions {
		t.Errorf("worker w1 released %d of B's %d partitions unfinished at SIGTERM (%v), want all, each after shutdown_timeout", len(got), partitions, got)
	} else {
		for p, waited := range got {
			if waited != refusedShutdown.String() {
				t.Errorf("B's partition %s was released after %s, want shutdown_timeout %s", p, waited, refusedShutdown)
			}
		}
	}
	for _, p := range refusedProblems(w1, sb.All, b.topics[0]) {
		t.Errorf("worker w1 logged %s", p)
	}
	calls := em.checkAssumedRoles(a, b)

	// Nothing was lost: trust B's role (auth-on rotates the user's key) and
	// a new worker delivers all of B from the offsets it waited at.
	creds2 := em.authOn([]string{okRole, badRole}, nil)
	secrets["the IAM user's new secret access key"] = creds2.SecretAccessKey
	w2 := ae.startWorkerWithEnv("w2", cfg, em.workerEnv())
	oB := ae.waitDelivered(ledB, dB, group, 40*time.Second)
	ae.check(ledB, dB, oB)
	dupsB := ledB.duplicates(dB, nil)
	e.judgeDuplicates(dupsB, w2)
	e.signal(w2, syscall.SIGTERM)
	if err := e.waitExit(w2, refusedShutdown+exitSlack); err != nil {
		t.Errorf("SIGTERM: worker w2 exited with %v, want status 0", err)
	}
	checkNoSecrets(t, w2, secrets)
	if p := w2.problems(); len(p) > 0 {
		t.Errorf("worker w2 logged problems: %v", p)
	}

	t.Logf("source A: %s", oA)
	t.Logf("source B after its role was trusted: %s", oB)
	e.report(map[string]any{
		"outcome_a": oA, "outcome_b": oB, "duplicates_a": dupsA, "duplicates_b": dupsB,
		"sigterm_seconds": took.Seconds(), "assume_role_calls": calls,
	})
}

// deliverableSource is a generated mix without Firehose opt-outs: every
// message must reach the "*" stream.
func deliverableSource(seed int64) *source {
	o := genOptions(seed)
	o.FirehoseOptOut = 0
	return &source{gen: eventgen.New(o)}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// editConfig replaces, in the config file at path, each old with its new
// (pairs), failing the test if an old string is not there: writeConfig's
// layout changed.
func editConfig(t *testing.T, path string, oldNew ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(oldNew); i += 2 {
		if !strings.Contains(s, oldNew[i]) {
			t.Fatalf("worker config has no %q to replace:\n%s", oldNew[i], s)
		}
		s = strings.Replace(s, oldNew[i], oldNew[i+1], 1)
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkWaiting fails the test unless the group has committed nothing of
// topic (no offset, or 0, on every partition) and stream d has received
// nothing.
func (e *env) checkWaiting(when, group, topic string, partitions int32, d *delivery) {
	e.t.Helper()
	ctx := e.ctx(30 * time.Second)
	committed, err := e.committed(ctx, group)
	if err != nil {
		e.t.Fatalf("fetching the group's offsets: %v", err)
	}
	for p := range partitions {
		if c, ok := committed[tp{topic, p}]; ok && c != 0 {
			e.t.Errorf("%s: the group committed %s/%d up to %d, want nothing", when, topic, p, c)
		}
	}
	if err := d.refresh(ctx); err != nil {
		e.t.Fatal(err)
	}
	if d.records > 0 {
		e.t.Errorf("%s: %d records in %v, want none: %v", when, d.records, d.streams, d.objects)
	}
}

// jsonLines returns the worker's JSON log lines as maps; a line that is not
// JSON becomes {"msg": line}.
func jsonLines(w *worker) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(w.log.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			l = map[string]any{"msg": sc.Text()}
		}
		out = append(out, l)
	}
	return out
}

func str(l map[string]any, key string) string {
	s, _ := l[key].(string)
	return s
}

func num(l map[string]any, key string) int {
	f, _ := l[key].(float64)
	return int(f)
}

// lastLine returns the worker's last log line with message msg, or nil.
func lastLine(w *worker, msg string) map[string]any {
	var last map[string]any
	for _, l := range jsonLines(w) {
		if str(l, "msg") == msg {
			last = l
		}
	}
	return last
}

// isDenial reports a failing-PutRecordBatch line for stream whose records
// wait because the worker may not write there.
func isDenial(l map[string]any, stream string) bool {
	return strings.HasPrefix(str(l, "msg"), "PutRecordBatch is failing") && str(l, "stream") == stream && str(l, "class") == "denied"
}

// refusedProblems returns the WARN and ERROR lines other than the refusal of
// deniedStream, the release of waitingTopic's undrained partitions at
// shutdown, and routine group warnings.
func refusedProblems(w *worker, deniedStream, waitingTopic string) []string {
	var out []string
next:
	for _, l := range jsonLines(w) {
		level := str(l, "level")
		if level != "WARN" && level != "ERROR" {
			continue
		}
		msg := str(l, "msg")
		switch {
		case isDenial(l, deniedStream):
			continue
		case strings.HasPrefix(msg, "partition released with unacknowledged records") && strings.HasPrefix(str(l, "partition"), waitingTopic+"/"):
			continue
		case strings.HasPrefix(msg, "deliveries cut off at shutdown") && num(l, "count") >= 1 &&
			strings.Contains(str(l, "first"), "stream "+deniedStream+":"):
			// The refused stream's deliveries, still retrying when the
			// shutdown timeout ended them: their records stay uncommitted.
			// One or more, as B's partitions happened to fill batches;
			// the other source had delivered and committed everything.
			continue
		}
		for _, r := range routineWarnings {
			if strings.Contains(msg+" "+str(l, "error"), r) {
				continue next
			}
		}
		b, _ := json.Marshal(l)
		out = append(out, string(b))
	}
	return out
}

// releasedAfter returns, per partition of topic the worker released with
// records unfinished, how long it said it waited for them.
func releasedAfter(w *worker, topic string) map[string]string {
	out := map[string]string{}
	for _, l := range jsonLines(w) {
		if strings.HasPrefix(str(l, "msg"), "partition released with unacknowledged records") && strings.HasPrefix(str(l, "partition"), topic+"/") {
			out[str(l, "partition")] = str(l, "waited")
		}
	}
	return out
}

// checkNoSecrets fails the test if the worker's log contains one of secrets
// (description -> value).
func checkNoSecrets(t *testing.T, w *worker, secrets map[string]string) {
	t.Helper()
	log := w.log.String()
	for what, s := range secrets {
		if i := strings.Index(log, s); i >= 0 {
			around := log[max(0, i-200):min(len(log), i+len(s)+50)]
			t.Errorf("worker %s's log contains %s: ...%s...", w.name, what, strings.ReplaceAll(around, s, "<"+what+">"))
		}
	}
}

// httpAddress returns the address the worker's metrics and health listener
// bound, from its log.
func httpAddress(t *testing.T, w *worker) string {
	t.Helper()
	var addr string
	eventually(t, 15*time.Second, 50*time.Millisecond, "the worker's health listener", func() (bool, string) {
		if l := lastLine(w, "serving metrics and health"); l != nil {
			addr = str(l, "address")
		}
		return addr != "", "not logged yet"
	})
	return addr
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	hc := http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// authEmulator is a moto instance of one test's own with IAM enforcement
// on (scripts/aws.sh auth-on). Enforcement is server-wide, and afterwards
// every request must be signed with keys moto issued, so it cannot be the
// emulator the other tests share.
type authEmulator struct {
	t    *testing.T
	port string
	url  string
	// env is the test's env with its AWS clients pointed at this emulator
	// and signed with the IAM user's current key; Kafka is the shared one.
	env   *env
	creds authCreds
}

// authCreds is what scripts/aws.sh auth-on prints.
type authCreds struct {
	AccessKeyID     string            `json:"access_key_id"`
	SecretAccessKey string            `json:"secret_access_key"`
	UserARN         string            `json:"user_arn"`
	TrustedRoles    map[string]string `json:"trusted_roles"`
	UntrustedRoles  map[string]string `json:"untrusted_roles"`
}

// startAuthEmulator starts moto with scripts/aws.sh on FHW_E2E_AWS_AUTH_PORT
// (scripts/e2e.sh sets it, and stops that port on exit in case this test
// could not), or on a free port. It turns enforcement off and stops the
// emulator when the test ends, whatever the outcome.
func (e *env) startAuthEmulator() *authEmulator {
	e.t.Helper()
	p := os.Getenv("FHW_E2E_AWS_AUTH_PORT")
	fixed := p != ""
	if !fixed {
		p = freePort(e.t)
	}
	a := &authEmulator{t: e.t, port: p, url: "http://127.0.0.1:" + p}
	if fixed {
		// A fixed port may hold a leftover of a killed run, perhaps with
		// enforcement on, which would break start's setup: begin afresh.
		if _, err := a.script("stop"); err != nil {
			e.t.Fatalf("scripts/aws.sh stop (port %s): %v", p, err)
		}
	}
	e.t.Cleanup(func() {
		if _, err := a.script("auth-off"); err != nil {
			e.t.Logf("scripts/aws.sh auth-off (port %s): %v", p, err)
		}
		if _, err := a.script("stop"); err != nil {
			e.t.Errorf("scripts/aws.sh stop (port %s): %v", p, err)
		}
	})
	start := time.Now()
	if _, err := a.script("start"); err != nil {
		e.t.Fatalf("starting this test's own emulator with scripts/aws.sh start (AWS_EMULATOR_PORT=%s): %v", p, err)
	}
	e.t.Logf("own emulator on %s up in %s", a.url, time.Since(start).Round(10*time.Millisecond))
	env := *e
	a.env = &env
	return a
}

// authOn runs scripts/aws.sh auth-on with the given roles and points the
// env's AWS clients at the emulator with the user's new key (auth-on
// rotates it; the previous one stops working).
func (a *authEmulator) authOn(trusted, untrusted []string) authCreds {
	a.t.Helper()
	args := []string{"auth-on"}
	for _, r := range trusted {
		args = append(args, "--trusted-role", r)
	}
	for _, r := range untrusted {
		args = append(args, "--untrusted-role", r)
	}
	out, err := a.script(args...)
	if err != nil {
		a.t.Fatalf("scripts/aws.sh auth-on: %v", err)
	}
	var c authCreds
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.AccessKeyID == "" || c.SecretAccessKey == "" {
		// Not the output itself: it would hold the secret key.
		a.t.Fatalf("scripts/aws.sh auth-on printed %d bytes that are not its credentials JSON (%v)", len(out), err)
	}
	for _, r := range trusted {
		if c.TrustedRoles[r] == "" {
			a.t.Fatalf("auth-on did not report trusted role %s", r)
		}
	}
	for _, r := range untrusted {
		if c.UntrustedRoles[r] == "" {
			a.t.Fatalf("auth-on did not report untrusted role %s", r)
		}
	}
	a.creds = c
	cfg := aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, ""),
		BaseEndpoint: aws.String(a.url),
	}
	a.env.fh = firehose.NewFromConfig(cfg)
	a.env.s3 = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	return c
}

// workerEnv is the environment of a worker whose base identity is the IAM
// user: its current key, and this emulator's endpoint.
func (a *authEmulator) workerEnv() []string {
	return append(withoutAWS(workerEnv()),
		"AWS_ENDPOINT_URL="+a.url,
		"AWS_ACCESS_KEY_ID="+a.creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+a.creds.SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	)
}

// checkAssumedRoles checks the successful AssumeRole calls the emulator
// saw: ok's role, with ok's External ID (its source id), and never
// refused's role. It returns the calls per role.
func (a *authEmulator) checkAssumedRoles(ok, refused sourceConfig) map[string]int {
	a.t.Helper()
	out, err := a.script("assumed-roles")
	if err != nil {
		a.t.Fatalf("scripts/aws.sh assumed-roles: %v", err)
	}
	calls := map[string]int{}
	for line := range strings.Lines(out) {
		var r assumedRole
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			a.t.Fatalf("scripts/aws.sh assumed-roles printed %q: %v", line, err)
		}
		calls[r.RoleARN]++
		if r.RoleARN == ok.role && r.ExternalID != ok.id {
			a.t.Errorf("source %s assumed %s with External ID %q, want its source id", ok.id, ok.role, r.ExternalID)
		}
	}
	if calls[ok.role] == 0 {
		a.t.Errorf("the emulator saw no successful AssumeRole for source %s's role %s: %v", ok.id, ok.role, calls)
	}
	if n := calls[refused.role]; n > 0 {
		a.t.Errorf("the emulator granted %d AssumeRole calls for the untrusted role %s", n, refused.role)
	}
	return calls
}

// script runs scripts/aws.sh for this emulator and returns its stdout.
func (a *authEmulator) script(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(repoRoot, "scripts", "aws.sh")}, args...)...)
	cmd.Env = append(withoutAWS(os.Environ()), "AWS_EMULATOR_PORT="+a.port, "AWS_BUCKET="+bucket, "AWS_REGION="+region)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", &scriptError{err, append(stdout.Bytes(), stderr.Bytes()...)}
	}
	return stdout.String(), nil
}

// withoutAWS returns environ without its AWS_ variables.
func withoutAWS(environ []string) []string {
	var out []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "AWS_") {
			out = append(out, kv)
		}
	}
	return out
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return port(l.Addr().String())
}
