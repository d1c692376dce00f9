//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestBrokerRestart stops and restarts the Kafka broker (scripts/kafka.sh
// restart, on the port of FHW_E2E_KAFKA) while two workers consume and a
// producer keeps producing. The workers must recover on their own, stay
// in the group, and deliver every message; duplicates are allowed (commits
// cannot land while the broker is down) and reported.
//
// It is the only test that is not parallel, and it takes brokerLock for
// writing: no other test of this binary runs while the broker is down.
func TestBrokerRestart(t *testing.T) {
	e := newEnv(t, "rst", false, true)
	r := e.newRig("rst", 6)
	w1, w2 := e.startWorker("w1", r.cfg), e.startWorker("w2", r.cfg)
	r.checkMembers(r.waitMembers(2), w1, w2)

	p := e.startProducer(r.led, r.topic, newSource(5, false), 100)
	r.waitProgress(300)
	before, _ := r.led.count()

	took := restartKafka(t)
	during, _ := r.led.count()
	t.Logf("broker restarted in %s; %d messages acknowledged before it, %d when it was back", took.Round(100*time.Millisecond), before, during)

	// Recovery: commits move again, and the group is whole again.
	r.waitProgress(500)
	r.checkMembers(r.waitMembers(2), w1, w2)
	if err := p.Stop(60 * time.Second); err != nil {
		t.Fatalf("producer: %v", err)
	}
	o := r.finish()
	dups := r.led.duplicates(r.d, nil)
	for _, w := range []*worker{w1, w2} {
		if w.exited() {
			t.Errorf("worker %s exited during the broker restart: %v", w.name, w.err)
		}
	}
	t.Logf("broker restart: %s; duplicates: %d resent after unknown outcomes, %d re-read", o, dups.Resent, dups.Other)
	e.report(map[string]any{"outcome": o, "duplicates": dups, "restart_seconds": took.Seconds()})
}

// restartKafka runs scripts/kafka.sh restart for the broker at kafkaAddr
// and returns how long it took. If the broker does not answer when the test
// ends, it is started again, so later tests find it.
func restartKafka(t *testing.T) time.Duration {
	t.Helper()
	t.Cleanup(func() {
		if err := kafkaScript("status"); err != nil {
			t.Logf("the broker is not up after the restart test; starting it")
			if err := kafkaScript("start"); err != nil {
				t.Errorf("scripts/kafka.sh start: %v", err)
			}
		}
	})
	start := time.Now()
	if err := kafkaScript("restart"); err != nil {
		t.Fatalf("scripts/kafka.sh restart: %v", err)
	}
	return time.Since(start)
}

type scriptError struct {
	err error
	out []byte
}

func (e *scriptError) Error() string { return e.err.Error() + "\n" + tail(string(e.out), 3000) }

func kafkaScript(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(repoRoot, "scripts", "kafka.sh")}, args...)...)
	cmd.Env = append(os.Environ(), "KAFKA_PORT="+port(kafkaAddr))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return &scriptError{err, out}
	}
	return nil
}
