package eventgen

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/seed42.ndjson from the generator")

// scaled returns n, or a fifth of it under -race or -short, whose runs are
// slow. The generator is deterministic, so a smaller sample makes a check
// weaker but never flaky.
func scaled(n int) int {
	if raceEnabled || testing.Short() {
		return n / 5
	}
	return n
}

// generate returns n messages of a generator for opts, each with its own
// copy of the value.
func generate(t testing.TB, opts Options, n int) ([][]byte, []Info, [][]byte) {
	t.Helper()
	g := New(opts)
	values := make([][]byte, n)
	infos := make([]Info, n)
	keys := make([][]byte, n)
	for i := range n {
		v, k, info := g.Next(nil)
		values[i], infos[i], keys[i] = v, info, bytes.Clone(k)
	}
	return values, infos, keys
}

func TestNextIsDeterministic(t *testing.T) {
	a, b := New(Options{Seed: 42}), New(Options{Seed: 42})
	other := New(Options{Seed: 43})
	var va, vb, vo []byte
	same := 0
	for i := range 20000 {
		var ka, kb []byte
		var ia, ib Info
		va, ka, ia = a.Next(va[:0])
		vb, kb, ib = b.Next(vb[:0])
		vo, _, _ = other.Next(vo[:0])
		if !bytes.Equal(va, vb) || !bytes.Equal(ka, kb) || !reflect.DeepEqual(ia, ib) {
			t.Fatalf("message %d differs between two generators with seed 42:\n%s\n%s", i, va, vb)
		}
		if bytes.Equal(va, vo) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("seeds 42 and 43 made %d identical messages", same)
	}
}

// TestGolden pins the sequence for seed 42, so that a change to the output
// is a deliberate one (go test -run TestGolden -update rewrites the file).
// The file doubles as the replay fixture.
func TestGolden(t *testing.T) {
	const n = 100
	path := filepath.Join("testdata", "seed42.ndjson")
	var got bytes.Buffer
	g := New(Options{Seed: 42})
	var v []byte
	for range n {
		v, _, _ = g.Next(v[:0])
		got.Write(v)
		got.WriteByte('\n')
	}
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		gl, wl := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("line %d differs from %s (run with -update if the change is intended):\ngot  %s\nwant %s", i+1, path, gl[i], wl[i])
			}
		}
		t.Fatalf("output has %d lines, %s has %d", len(gl), path, len(wl))
	}
}

// variedOptions turn every variation up, so that a test meets each often.
var variedOptions = Options{
	Seed:           7,
	CaseVariation:  0.1,
	UnicodeShare:   0.3,
	BigNumberShare: 0.05,
	NestingShare:   0.05,
	FirehoseOptOut: 0.03,
	PrettyShare:    0.05,
}

func TestMessagesAreValidJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"default", Options{Seed: 42}},
		{"varied", variedOptions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := scaled(100_000)
			g := New(tc.opts)
			ids := make(map[string]struct{}, n)
			var v []byte
			var compact, indented bytes.Buffer
			pretty := 0
			for i := range n {
				var key []byte
				var info Info
				v, key, info = g.Next(v[:0])
				if !json.Valid(v) {
					t.Fatalf("message %d is not valid JSON:\n%s", i, v)
				}
				if !utf8.Valid(v) {
					t.Fatalf("message %d is not valid UTF-8:\n%s", i, v)
				}
				compact.Reset()
				if err := json.Compact(&compact, v); err != nil {
					t.Fatal(err)
				}
				if info.Pretty {
					pretty++
					// Indented exactly as json.Indent would, so only
					// whitespace differs from the compact form.
					indented.Reset()
					if err := json.Indent(&indented, compact.Bytes(), "", "  "); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(indented.Bytes(), v) {
						t.Fatalf("message %d is not indented the standard way:\n%s", i, v)
					}
				} else if !bytes.Equal(compact.Bytes(), v) {
					t.Fatalf("message %d has insignificant whitespace:\n%s", i, v)
				}
				if _, dup := ids[string(info.MessageID)]; dup {
					t.Fatalf("message %d repeats messageId %s", i, info.MessageID)
				}
				ids[string(info.MessageID)] = struct{}{}
				if len(key) == 0 || string(key) != info.Key() {
					t.Fatalf("message %d: key %q, want %q", i, key, info.Key())
				}
			}
			if tc.opts.PrettyShare == 0 && pretty > 0 {
				t.Errorf("%d pretty messages without PrettyShare", pretty)
			}
			if tc.opts.PrettyShare > 0 && pretty == 0 {
				t.Error("no pretty messages")
			}
		})
	}
}

// TestInfoDescribesMessage checks Info against what the message says, as
// read by Replay, which shares no code with the generator's bookkeeping.
func TestInfoDescribesMessage(t *testing.T) {
	t.Parallel()
	values, infos, _ := generate(t, variedOptions, scaled(30_000))
	var p Replay
	for i, v := range values {
		got, err := p.describe(v)
		if err != nil {
			t.Fatalf("message %d: %v\n%s", i, err, v)
		}
		if !reflect.DeepEqual(got, infos[i]) {
			t.Fatalf("message %d: Info from generator\n%+v\nInfo from message\n%+v\n%s", i, infos[i], got, v)
		}
	}
}

// TestMessagesFollowSpec checks the fields each call type must have.
func TestMessagesFollowSpec(t *testing.T) {
	t.Parallel()
	values, infos, _ := generate(t, variedOptions, scaled(20_000))
	for i, v := range values {
		var m map[string]any
		if err := json.Unmarshal(v, &m); err != nil {
			t.Fatal(err)
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("message %d: "+format+"\n%s", append([]any{i}, append(args, v)...)...)
		}
		for _, f := range []string{"type", "messageId", "timestamp", "originalTimestamp", "sentAt", "receivedAt", "channel", "context"} {
			if _, ok := m[f]; !ok {
				fail("no %q", f)
			}
		}
		if m["userId"] == nil && m["anonymousId"] == nil {
			fail("neither userId nor anonymousId")
		}
		for _, f := range []string{"timestamp", "originalTimestamp", "sentAt", "receivedAt"} {
			if _, err := time.Parse(time.RFC3339Nano, m[f].(string)); err != nil {
				fail("%s: %v", f, err)
			}
		}
		ctx := m["context"].(map[string]any)
		lib, _ := ctx["library"].(map[string]any)
		if lib["name"] == nil || lib["version"] == nil {
			fail("context.library lacks name or version")
		}
		need := map[Type][]string{
			Track:    {"event", "properties"},
			Page:     {"name", "properties"},
			Screen:   {"name", "properties"},
			Identify: {"traits"},
			Group:    {"groupId", "traits"},
			Alias:    {"previousId", "userId"},
		}[infos[i].Type]
		if need == nil {
			fail("unknown type %q", infos[i].Type)
		}
		for _, f := range need {
			if _, ok := m[f]; !ok {
				fail("%s call without %q", infos[i].Type, f)
			}
		}
		if infos[i].Personas {
			p, _ := ctx["personas"].(map[string]any)
			for _, f := range []string{"computation_class", "computation_id", "computation_key", "namespace", "space_id"} {
				if p[f] == nil {
					fail("context.personas lacks %q", f)
				}
			}
			if infos[i].Type == Identify {
				traits := m["traits"].(map[string]any)
				if _, ok := traits[p["computation_key"].(string)]; !ok {
					fail("Personas identify without its computed trait")
				}
			}
		}
	}
}

func TestMixProportions(t *testing.T) {
	for _, tc := range []struct {
		name string
		mix  Mix
	}{
		{"default", Mix{}},
		{"only track", Mix{Track: 1}},
		{"group and alias", Mix{Group: 3, Alias: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := scaled(100_000)
			_, infos, _ := generate(t, Options{Seed: 1, Mix: tc.mix}, n)
			counts := map[Type]int{}
			for _, info := range infos {
				counts[info.Type]++
			}
			mix := tc.mix
			if mix.total() == 0 {
				mix = DefaultOptions().Mix
			}
			for i, w := range mix.weights() {
				want := w / mix.total()
				got := float64(counts[callTypes[i]]) / float64(n)
				if math.Abs(got-want) > 0.01 {
					t.Errorf("%s: %.3f of messages, want %.3f", callTypes[i], got, want)
				}
			}
		})
	}
}

// specEvents are the track events the worker's routing tests rely on.
var specEvents = []string{
	"Products Searched", "Product List Viewed", "Product Clicked", "Product Viewed", "Product Added",
	"Product Removed", "Cart Viewed", "Checkout Started", "Checkout Step Viewed", "Checkout Step Completed",
	"Payment Info Entered", "Order Completed", "Order Updated", "Order Refunded", "Order Cancelled",
	"Coupon Applied", "Promotion Viewed", "Product Shared", "Product Reviewed", "Product Added to Wishlist",
	"Account Created", "Account Deleted", "Signed Up", "Signed In", "Signed Out", "Invite Sent",
	"Trial Started", "Trial Ended", "Subscription Upgraded", "Application Installed", "Application Opened",
	"Application Backgrounded", "Application Updated", "Push Notification Received",
	"Video Playback Started", "Video Content Completed", "User Registered",
}

func TestEventNames(t *testing.T) {
	canonical := map[string]bool{}
	for _, e := range trackEvents {
		canonical[e.name] = true
	}
	for _, name := range specEvents {
		if !canonical[name] {
			t.Errorf("%q is not in the catalog", name)
		}
	}

	t.Parallel()
	_, infos, _ := generate(t, Options{Seed: 3}, scaled(200_000))
	seen := map[string]bool{}
	tracks, varied := 0, 0
	for _, info := range infos {
		if info.Type != Track {
			if info.Event != "" {
				t.Fatalf("%s call with Event %q", info.Type, info.Event)
			}
			continue
		}
		tracks++
		seen[info.Event] = true
		if !canonical[info.Event] {
			varied++
			ok := false
			for name := range canonical {
				ok = ok || strings.EqualFold(name, info.Event)
			}
			if !ok {
				t.Fatalf("event %q is no case variant of a catalog name", info.Event)
			}
		}
	}
	for name := range canonical {
		if !seen[name] {
			t.Errorf("%q never appeared", name)
		}
	}
	share := float64(varied) / float64(tracks)
	if share < 0.02 || share > 0.04 {
		t.Errorf("%.3f of event names vary in case, want about 0.03", share)
	}

	_, infos, _ = generate(t, Options{Seed: 3, CaseVariation: Never}, 20_000)
	for _, info := range infos {
		if info.Type == Track && !canonical[info.Event] {
			t.Fatalf("event %q varies in case with CaseVariation Never", info.Event)
		}
	}
}

func TestVariations(t *testing.T) {
	t.Parallel()
	n := scaled(100_000)
	values, infos, _ := generate(t, Options{Seed: 5}, n)
	var nonASCII, asciiEscaped, withBigNumbers, personas, integrations, firehoseOff, anonymous int
	for i, v := range values {
		if bytes.ContainsFunc(v, func(r rune) bool { return r >= utf8.RuneSelf }) {
			nonASCII++
		}
		if bytes.Contains(v, []byte(`\u`)) {
			asciiEscaped++
		}
		if infos[i].BigNumbers {
			withBigNumbers++
			found := false
			for _, lit := range bigNumbers {
				found = found || bytes.Contains(v, []byte(":"+lit))
			}
			if !found {
				t.Fatalf("BigNumbers set, but no literal in\n%s", v)
			}
		}
		if infos[i].Personas {
			personas++
		}
		if bytes.Contains(v, []byte(`"integrations":`)) {
			integrations++
		}
		if infos[i].FirehoseDisabled {
			firehoseOff++
		}
		if infos[i].UserID == "" {
			anonymous++
		}
	}
	for _, c := range []struct {
		what     string
		got      int
		min, max float64
	}{
		{"non-ASCII text", nonASCII, 0.05, 0.5},
		{"\\u escapes", asciiEscaped, 0.001, 0.05},
		{"big numbers", withBigNumbers, 0.005, 0.015},
		{"Personas", personas, 0.015, 0.03},
		{"integrations objects", integrations, 0.15, 0.3},
		{"anonymous", anonymous, 0.1, 0.3},
	} {
		share := float64(c.got) / float64(n)
		if share < c.min || share > c.max {
			t.Errorf("%s in %.4f of messages, want %v..%v", c.what, share, c.min, c.max)
		}
	}
	if firehoseOff != 0 {
		t.Errorf("%d messages disable Firehose by default", firehoseOff)
	}
}

// TestMessageSize measures the default traffic: about a kilobyte a
// message, with a tail of large orders and carts.
func TestMessageSize(t *testing.T) {
	t.Parallel()
	n := scaled(100_000)
	g := New(Options{Seed: 42})
	var v []byte
	total, largest, over3k := 0, 0, 0
	for range n {
		v, _, _ = g.Next(v[:0])
		total += len(v)
		largest = max(largest, len(v))
		if len(v) > 3000 {
			over3k++
		}
	}
	avg := total / n
	t.Logf("average %d bytes, largest %d, %d of %d over 3000", avg, largest, over3k, n)
	if avg < 800 || avg > 1100 {
		t.Errorf("average message is %d bytes, want 800..1100", avg)
	}
	if largest < 3000 || largest > 16<<10 {
		t.Errorf("largest message is %d bytes, want a tail of a few KB", largest)
	}
}

func TestTimestampsAdvance(t *testing.T) {
	start := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	const n = 50_000
	t.Parallel()
	_, infos, _ := generate(t, Options{Seed: 9, Start: start, Interval: 100 * time.Millisecond}, n)
	first, last := infos[0].Timestamp, infos[n-1].Timestamp
	if d := first.Sub(start); d < -time.Minute || d > time.Minute {
		t.Errorf("first timestamp %v is %v from Start", first, d)
	}
	want := start.Add(n * 100 * time.Millisecond)
	if d := last.Sub(want); d < -time.Duration(n)*5*time.Millisecond || d > time.Duration(n)*5*time.Millisecond {
		t.Errorf("last timestamp %v, want about %v", last, want)
	}
	// Clocks disagree message to message, but time moves on: every
	// thousandth message is later than the one a thousand before.
	for i := 1000; i < n; i += 1000 {
		if !infos[i].Timestamp.After(infos[i-1000].Timestamp) {
			t.Fatalf("message %d at %v is not after message %d at %v", i, infos[i].Timestamp, i-1000, infos[i-1000].Timestamp)
		}
	}
}

func TestKeyFollowsUsers(t *testing.T) {
	_, infos, keys := generate(t, Options{Seed: 11, Users: 50}, 20_000)
	users := map[string]bool{}
	for i, info := range infos {
		if info.UserID != "" {
			users[info.UserID] = true
			if string(keys[i]) != info.UserID {
				t.Fatalf("key %q, want userId %q", keys[i], info.UserID)
			}
		} else if string(keys[i]) != info.AnonymousID {
			t.Fatalf("key %q, want anonymousId %q", keys[i], info.AnonymousID)
		}
	}
	if len(users) > 50 {
		t.Errorf("%d users with Users 50", len(users))
	}
}

func TestNextDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	g := New(variedOptions)
	buf := make([]byte, 0, 64<<10)
	for range 1000 {
		buf, _, _ = g.Next(buf[:0])
	}
	if n := testing.AllocsPerRun(10_000, func() { buf, _, _ = g.Next(buf[:0]) }); n != 0 {
		t.Errorf("Next allocates %v times per message", n)
	}
}

func TestOptionsDefaults(t *testing.T) {
	d := DefaultOptions()
	if got := (Options{}).withDefaults(); !reflect.DeepEqual(got, d) {
		t.Errorf("zero Options became\n%+v\nwant DefaultOptions\n%+v", got, d)
	}
	o := Options{CaseVariation: Never, PrettyShare: 2, UnicodeShare: 0.5}.withDefaults()
	if o.CaseVariation != 0 || o.PrettyShare != 1 || o.UnicodeShare != 0.5 {
		t.Errorf("got CaseVariation %v, PrettyShare %v, UnicodeShare %v; want 0, 1, 0.5", o.CaseVariation, o.PrettyShare, o.UnicodeShare)
	}
}
