//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRedrive: a stream that does not exist makes dead letters; once it is
// created, `firehose-worker redrive` delivers each of those records exactly
// once to that stream, the other stream's objects stay as they were, and a
// second run finds nothing left to do.
func TestRedrive(t *testing.T) {
	e := newEnv(t, "rdr", true, false)
	const partitions, tracks, pages = 3, 150, 90
	topic, dlq, group := name("rdr"), name("rdr", "dlq"), name("rdr")
	present, missing := name("rdr", "present"), name("rdr", "missing")
	e.createTopic(topic, partitions)
	e.createTopic(dlq, 2)
	e.createStreams(present) // missing is created later
	e.deleteGroupOnPass(group)
	e.deleteGroupOnPass(group + "-redrive")

	// Every message goes to present; pages also to missing.
	var all, pageRecs []string
	cl := e.newProducer()
	ctx := e.ctx(2 * time.Minute)
	for i := range tracks + pages {
		v := fmt.Sprintf(`{"type":"track","event":"Clicked","messageId":"rdr-%d","userId":"u%d"}`, i, i%17)
		if i >= tracks {
			v = fmt.Sprintf(`{"type":"page","name":"Home","messageId":"rdr-%d","userId":"u%d"}`, i, i%17)
			pageRecs = append(pageRecs, v+"\n")
		}
		all = append(all, v+"\n")
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("u%d", i%17)), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	rows := []row{{Event: "*", Stream: present}, {Event: "page", Stream: missing}}
	cfg := e.writeConfig(workerConfig{group: group, dlq: dlq, sources: []sourceConfig{{id: "src_" + runID, topics: []string{topic}, rows: rows}}})
	w := e.startWorker("w1", cfg)
	d := e.delivery(present, missing)
	eventually(t, 2*time.Minute, 200*time.Millisecond, "every message delivered to "+present+" and every page dead-lettered", func() (bool, string) {
		if err := d.refresh(ctx); err != nil {
			return false, err.Error()
		}
		letters := e.endOffsets(ctx, dlq)
		return len(d.got[present]) == len(all) && letters == int64(pages),
			fmt.Sprintf("%d of %d records in %s, %d of %d letters", len(d.got[present]), len(all), present, letters, pages)
	})
	e.signal(w, syscall.SIGTERM)
	if err := e.waitExit(w, 30*time.Second); err != nil {
		t.Fatalf("worker exited with %v", err)
	}
	if n := len(w.lines("message dead-lettered")); n != pages {
		t.Errorf("worker logged %d dead letters, want %d", n, pages)
	}
	presentObjects := d.objects[present]
	if d.objects[missing] != 0 {
		t.Fatalf("%s has %d objects before it exists", missing, d.objects[missing])
	}

	// A dry run counts and sends nothing.
	out, code := e.redrive(cfg, "--dry-run")
	if code != 0 || !strings.Contains(out, "would  send") || !strings.Contains(out, fmt.Sprintf("firehose_rejected  %s  %d  %d", missing, pages, pages)) {
		t.Errorf("dry run: exit %d\n%s", code, out)
	}

	e.createStreams(missing)
	out, code = e.redrive(cfg, "--reason", "firehose_rejected", "--stream", missing)
	if code != 0 {
		t.Fatalf("redrive: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, fmt.Sprintf("total  %d  %d  0  0  0  0", pages, pages)) {
		t.Errorf("redrive summary does not show %d delivered:\n%s", pages, out)
	}
	if err := d.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range pageRecs {
		if n := d.got[missing][r]; n != 1 {
			t.Errorf("%s holds %d copies of %q, want 1", missing, n, r)
		}
	}
	if len(d.got[missing]) != pages {
		t.Errorf("%s holds %d distinct records, want %d", missing, len(d.got[missing]), pages)
	}
	if d.objects[present] != presentObjects {
		t.Errorf("%s has %d objects after the redrive, had %d: redrive wrote to a stream that had acknowledged", present, d.objects[present], presentObjects)
	}
	for _, r := range all {
		if n := d.got[present][r]; n != 1 {
			t.Errorf("%s holds %d copies of %q, want 1", present, n, r)
		}
	}
	if len(d.problems) > 0 {
		t.Errorf("objects no PutRecordBatch call could write: %q", d.problems)
	}

	// The group committed the end: a second run has nothing to do.
	out, code = e.redrive(cfg)
	if code != 0 || !strings.Contains(out, "total  0  0  0  0  0  0") {
		t.Errorf("second redrive: exit %d, want 0 letters\n%s", code, out)
	}
	if err := d.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if len(d.got[missing]) != pages || d.records != len(all)+pages {
		t.Errorf("after the second run: %d records in all, want %d", d.records, len(all)+pages)
	}
}

// endOffsets sums the end offsets of topic's partitions.
func (e *env) endOffsets(ctx context.Context, topic string) int64 {
	ends, err := e.admin.ListEndOffsets(ctx, topic)
	if err != nil {
		return -1
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// redrive runs `firehose-worker redrive --config cfg args...` and returns its
// standard output (the summary table, spaces squeezed) and exit status; its
// log is kept like a worker's.
func (e *env) redrive(cfg string, args ...string) (string, int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"redrive", "--config", cfg}, args...)...)
	cmd.Env = workerEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !asExit(err, &ee) {
			e.t.Fatalf("running redrive: %v", err)
		}
		code = ee.ExitCode()
	}
	if e.t.Failed() || code != 0 {
		e.t.Logf("redrive %q log tail:\n%s", args, tail(stderr.String(), 4000))
	}
	return squeeze(stdout.String()), code
}

func asExit(err error, ee **exec.ExitError) bool {
	x, ok := err.(*exec.ExitError)
	*ee = x
	return ok
}

// squeeze turns every run of spaces into two, so the table's right-aligned
// columns compare as "a  b  c".
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), "  ")
	}
	return strings.Join(lines, "\n")
}
