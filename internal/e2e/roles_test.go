//go:build e2e

package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAssumeRole runs one worker with two sources on two topics, both with
// a role_address: source A without secret_id (its External ID is its source
// id), source B with one. The emulator's STS must have seen AssumeRole for
// each role with the right External ID, in the account of the streams, and
// both sources' events must be delivered. The secret never appears in the
// worker's log, even at debug level.
func TestAssumeRole(t *testing.T) {
	e := newEnv(t, "role", true, false)
	secretBytes := make([]byte, 12)
	_, _ = rand.Read(secretBytes)
	secret := "fhw-secret-" + hex.EncodeToString(secretBytes)
	a := sourceConfig{
		id:     "src_a_" + runID,
		topics: []string{name("role", "a")},
		role:   "arn:aws:iam::" + account + ":role/" + name("role", "a"),
	}
	b := sourceConfig{
		id:     "src_b_" + runID,
		topics: []string{name("role", "b")},
		role:   "arn:aws:iam::" + account + ":role/" + name("role", "b"),
		secret: secret,
	}
	sa := streamSet{All: name("role", "a-all"), Pages: name("role", "a-pages")}
	sb := streamSet{All: name("role", "b-all"), People: name("role", "b-people")}
	a.rows = []row{{"*", sa.All}, {"page", sa.Pages}}
	b.rows = []row{{"*", sb.All}, {"identify", sb.People}}
	group := name("role")
	for _, s := range []sourceConfig{a, b} {
		e.createTopic(s.topics[0], 3)
	}
	e.createStreams(append(sa.names(), sb.names()...)...)
	e.deleteGroupOnPass(group)

	led := newLedger(map[string][]row{a.topics[0]: a.rows, b.topics[0]: b.rows})
	const events = 800
	e.produce(led, a.topics[0], newSource(6, false), events)
	e.produce(led, b.topics[0], newSource(7, false), events)

	cfg := e.writeConfig(workerConfig{group: group, sources: []sourceConfig{a, b}, logLevel: "debug"})
	w := e.startWorker("w1", cfg)
	d := e.delivery(append(sa.names(), sb.names()...)...)
	o := e.waitDelivered(led, d, group, 3*time.Minute)
	e.check(led, d, o)
	dups := led.duplicates(d, nil)
	e.judgeDuplicates(dups, w)
	for _, s := range d.streams {
		if o.Objects[s] == 0 {
			t.Errorf("stream %s received nothing", s)
		}
	}

	roles, err := e.assumedRoles(e.ctx(time.Minute))
	if err != nil {
		t.Fatalf("reading the emulator's AssumeRole calls: %v", err)
	}
	calls := map[string]int{}
	for _, src := range []sourceConfig{a, b} {
		wantExt := src.id
		if src.secret != "" {
			wantExt = src.secret
		}
		for _, r := range roles {
			if r.RoleARN != src.role {
				continue
			}
			calls[src.id]++
			t.Logf("AssumeRole %s session %q account %s", r.RoleARN, r.SessionName, r.AccountID)
			if r.ExternalID != wantExt {
				t.Errorf("source %s assumed %s with External ID %q, want %q", src.id, src.role, r.ExternalID, wantExt)
			}
			if r.AccountID != account {
				t.Errorf("source %s: assumed role acts in account %s, want %s", src.id, r.AccountID, account)
			}
		}
		switch n := calls[src.id]; {
		case n == 0:
			t.Errorf("source %s: the emulator saw no AssumeRole for %s", src.id, src.role)
		case n > 2:
			t.Errorf("source %s: %d AssumeRole calls for one worker in a short run; credentials should be cached", src.id, n)
		}
	}

	e.signal(w, syscall.SIGTERM)
	if err := e.waitExit(w, 30*time.Second); err != nil {
		t.Errorf("SIGTERM: worker exited with %v, want status 0", err)
	}
	log := w.log.String()
	if strings.Contains(log, secret) {
		i := strings.Index(log, secret)
		t.Errorf("the worker's log contains the secret_id: ...%s...", log[max(0, i-200):min(len(log), i+len(secret)+50)])
	}
	if !strings.Contains(log, `"level":"DEBUG"`) {
		t.Logf("note: the worker logged nothing at debug level, so the secret check covers info and above only")
	}
	if p := w.problems(); len(p) > 0 {
		t.Errorf("worker logged problems: %v", p)
	}
	t.Logf("%s; AssumeRole calls per source %v; log %d bytes without the secret", o, calls, len(log))
	e.report(map[string]any{"outcome": o, "duplicates": dups, "assume_role_calls": calls, "log_bytes": len(log)})
}
