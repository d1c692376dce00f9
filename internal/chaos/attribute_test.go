//go:build chaos

package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/firehosesim"
)

// Causes a duplicate is attributed to, in the order they are tried.
const (
	causeCutAnswer = "cut_answer"     // the answer of a call that landed was cut
	causeKill      = "sigkill"        // re-read after a worker was SIGKILLed
	causeBroker    = "broker_restart" // re-read after commits could not land
	causeRebalance = "forced_rebalance"
	// causeHarness: the test's own forwarder resent a moto call that
	// failed, and its first attempt had landed: not the worker's copy.
	causeHarness = "harness_resend"
)

// dupCauses is how many extra copies each cause explains. Unattributed
// copies are a finding: something duplicated that none of the run's
// disruptions explains.
type dupCauses struct {
	CutAnswer       int      `json:"cut_answer"`
	Kill            int      `json:"sigkill"`
	BrokerRestart   int      `json:"broker_restart"`
	ForcedRebalance int      `json:"forced_rebalance"`
	Harness         int      `json:"harness_resend"`
	Unattributed    int      `json:"unattributed"`
	Examples        []string `json:"unattributed_examples,omitempty"`
}

func (d *dupCauses) add(o dupCauses) {
	d.CutAnswer += o.CutAnswer
	d.Kill += o.Kill
	d.BrokerRestart += o.BrokerRestart
	d.ForcedRebalance += o.ForcedRebalance
	d.Harness += o.Harness
	d.Unattributed += o.Unattributed
	for _, e := range o.Examples {
		if len(d.Examples) < maxExamples {
			d.Examples = append(d.Examples, e)
		}
	}
}

// span is a range of offsets of one partition that a disruption may have
// had read again: from the committed offset before it to the partition's
// end after it.
type span struct {
	cause     string
	atSec     float64
	partition int32
	from, to  int64 // [from, to)
}

type cutKey struct {
	stream int
	hash   uint64
}

// attributor collects what explains duplicates while the run goes on, and
// then attributes each extra copy a stream holds.
type attributor struct {
	seed    maphash.Seed // the ledger's
	streams map[string]int

	mu  sync.Mutex
	cut map[cutKey]int32 // copies that landed in calls whose answer was cut
	// resent counts copies the forwarder sent moto again after a call of
	// them failed (it may have landed all the same).
	resent map[cutKey]int32
	spans  []span
}

func newAttributor(seed maphash.Seed, names runNames) *attributor {
	a := &attributor{seed: seed, streams: map[string]int{}, cut: map[cutKey]int32{}, resent: map[cutKey]int32{}}
	for i, s := range names.Streams {
		a.streams[s] = i
	}
	return a
}

// observe is the simulated Firehose's Observer: it notes the records of
// every call whose answer it cut after they landed.
func (a *attributor) observe(ci firehosesim.CallInfo) {
	if ci.Outcome != firehosesim.OutcomeDropped {
		return
	}
	si, ok := a.streams[ci.Stream]
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range ci.Landed {
		a.cut[cutKey{si, maphash.Bytes(a.seed, bytes.TrimSuffix(r, []byte("\n")))}]++
	}
}

// forwarderResent is the forwarder's onResend: it notes records of a moto
// call that failed whole and is being sent again.
func (a *attributor) forwarderResent(stream string, recs [][]byte) {
	si, ok := a.streams[stream]
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range recs {
		a.resent[cutKey{si, maphash.Bytes(a.seed, bytes.TrimSuffix(r, []byte("\n")))}]++
	}
}

// window notes that partitions may be read again from before to after.
func (a *attributor) window(cause string, atSec float64, parts []int32, before, after *sample) {
	if before == nil || after == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range parts {
		a.spans = append(a.spans, span{cause: cause, atSec: atSec, partition: p, from: before.committed[p], to: after.ends[p]})
	}
}

// attribute explains the extra copies of entry e in stream si. Call with the
// ledger's lock held, after every line was matched.
func (a *attributor) attribute(e *entry, si int, extra int) dupCauses {
	a.mu.Lock()
	defer a.mu.Unlock()
	var d dupCauses
	k := cutKey{si, e.hash}
	if n := min(extra, int(a.cut[k])); n > 0 {
		d.CutAnswer += n
		a.cut[k] -= int32(n)
		extra -= n
	}
	if n := min(extra, int(a.resent[k])); n > 0 {
		d.Harness += n
		a.resent[k] -= int32(n)
		extra -= n
	}
	if extra == 0 {
		return d
	}
	best := ""
	for _, s := range a.spans {
		if s.partition != e.partition || e.offset < s.from || e.offset >= s.to {
			continue
		}
		if best == "" || rank(s.cause) < rank(best) {
			best = s.cause
		}
	}
	switch best {
	case causeKill:
		d.Kill += extra
	case causeBroker:
		d.BrokerRestart += extra
	case causeRebalance:
		d.ForcedRebalance += extra
	default:
		d.Unattributed += extra
		d.Examples = append(d.Examples, fmt.Sprintf("messageId %s partition %d offset %d: %d extra copies, first at %ds", e.id, e.partition, e.offset, extra, e.firstAt[si]))
	}
	return d
}

func rank(cause string) int {
	return slices.Index([]string{causeKill, causeBroker, causeRebalance}, cause)
}

// rebalanceLines are worker log lines after which a partition may be read
// again by its next owner: a drain that timed out, and commits that did not
// land (the member was dropped, or the coordinator was away).
var (
	releasedMsg = "partition released with unacknowledged records; they will be read again by its next owner"
	failedMsg   = "offset commit failed; the next commit will include these offsets"
	logName     = regexp.MustCompile(`^w(\d+)-\d+\.log$`)
)

// fromLogs adds the forced-rebalance windows the workers' logs show, with
// the monitor's samples around each line.
func (a *attributor) fromLogs(dir string, start time.Time, hist *history) error {
	files, err := filepath.Glob(filepath.Join(dir, "w*.log"))
	if err != nil {
		return err
	}
	for _, path := range files {
		m := logName.FindStringSubmatch(filepath.Base(path))
		if m == nil {
			continue
		}
		slot, _ := strconv.Atoi(m[1])
		client := clientID(slot - 1)
		if err := a.scanLog(path, client, start, hist); err != nil {
			return err
		}
	}
	return nil
}

func (a *attributor) scanLog(path, client string, start time.Time, hist *history) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	for sc.Scan() {
		var l struct {
			Time      time.Time `json:"time"`
			Msg       string    `json:"msg"`
			Partition string    `json:"partition"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || (l.Msg != releasedMsg && l.Msg != failedMsg) {
			continue
		}
		before, after := hist.around(l.Time)
		if before == nil || after == nil {
			continue
		}
		var parts []int32
		if l.Msg == releasedMsg {
			i := strings.LastIndexByte(l.Partition, '/')
			p, err := strconv.Atoi(l.Partition[i+1:])
			if i < 0 || err != nil {
				continue
			}
			parts = []int32{int32(p)}
		} else {
			parts, _ = before.owned(client)
		}
		a.window(causeRebalance, l.Time.Sub(start).Seconds(), parts, before, after)
	}
	return sc.Err()
}

// history keeps the monitor's good samples in time order.
type history struct {
	mu      sync.Mutex
	samples []*sample
}

func (h *history) add(s *sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples = append(h.samples, s)
}

// around returns the last sample before t and the first one after it.
func (h *history) around(t time.Time) (before, after *sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i, _ := slices.BinarySearchFunc(h.samples, t, func(s *sample, t time.Time) int { return s.at.Compare(t) })
	if i > 0 {
		before = h.samples[i-1]
	}
	if i < len(h.samples) {
		after = h.samples[i]
	}
	return before, after
}
