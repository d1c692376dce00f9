package firehosesim

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// dirFiles returns every file below dir (relative, sorted) with its content.
func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func closeSink(t *testing.T, d *DirSink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestDirSinkLayoutAndSizeFlush(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := newFakeClock(time.Date(2024, 2, 29, 23, 59, 58, 0, time.FixedZone("X", 3600)))
	var files []FileInfo
	d, err := NewDirSink(DirOptions{Dir: dir, BufferBytes: 100, BufferInterval: time.Hour, Clock: clock.Now,
		OnFile: func(fi FileInfo) { files = append(files, fi) }})
	if err != nil {
		t.Fatal(err)
	}
	records := makeRecords("r", 10, 30) // a file every 4 records (120 bytes >= 100)
	if err := d.Write(t.Context(), "events", records[:3]); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour) // the next file's oldest record arrives an hour later
	if err := d.Write(t.Context(), "events", records[3:]); err != nil {
		t.Fatal(err)
	}
	if got := d.Totals()["events"]; got != (DirTotals{Files: 2, Records: 8, Bytes: 240, PendingRecords: 2, PendingBytes: 60}) {
		t.Fatalf("Totals before Close = %+v", got)
	}
	closeSink(t, d)

	got := dirFiles(t, dir)
	names := sortedKeys(got)
	// 2024-02-29 23:59:58 +01:00 is 22:59:58 UTC; an hour later is 23:59:58.
	want := []*regexp.Regexp{
		regexp.MustCompile(`^events/2024/02/29/22/events-1-2024-02-29-22-59-58-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`),
		regexp.MustCompile(`^events/2024/02/29/23/events-1-2024-02-29-23-59-58-[0-9a-f-]{36}$`),
		regexp.MustCompile(`^events/2024/02/29/23/events-1-2024-02-29-23-59-58-[0-9a-f-]{36}$`),
	}
	if len(names) != len(want) {
		t.Fatalf("files %v, want %d", names, len(want))
	}
	var all []byte
	for _, f := range files { // OnFile order is write order
		rel, _ := filepath.Rel(dir, f.Path)
		all = append(all, got[filepath.ToSlash(rel)]...)
	}
	if !bytes.Equal(all, bytes.Join(records, nil)) {
		t.Fatal("files do not concatenate to the records in order")
	}
	matched := 0
	for _, n := range names {
		for _, re := range want {
			if re.MatchString(n) {
				matched++
				break
			}
		}
	}
	if matched != len(names) {
		t.Fatalf("names %v do not follow the Firehose layout", names)
	}
	if counts := []int{files[0].Records, files[1].Records, files[2].Records}; !slices.Equal(counts, []int{4, 4, 2}) {
		t.Fatalf("records per file %v, want [4 4 2]", counts)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf(".tmp left behind: %v", err)
	}
	if err := d.Write(t.Context(), "events", records[:1]); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
}

func TestDirSinkIntervalFlush(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	written := make(chan FileInfo, 4)
	d, err := NewDirSink(DirOptions{Dir: dir, BufferInterval: 20 * time.Millisecond, OnFile: func(fi FileInfo) { written <- fi }})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSink(t, d)
	records := makeRecords("i", 3, 10)
	if err := d.Write(t.Context(), "s", records); err != nil {
		t.Fatal(err)
	}
	select {
	case fi := <-written:
		b, err := os.ReadFile(fi.Path)
		if err != nil || !bytes.Equal(b, bytes.Join(records, nil)) || fi.Records != 3 || fi.Stream != "s" {
			t.Fatalf("file %+v holds %q (%v)", fi, b, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no file after the buffer interval")
	}
	if got := d.Totals()["s"]; got.PendingRecords != 0 || got.Files != 1 {
		t.Fatalf("Totals = %+v", got)
	}
}

func TestDirSinkKeepsRecordsWhenAWriteFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, err := NewDirSink(DirOptions{Dir: dir, BufferBytes: 10, BufferInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// Replace the temporary directory with a file: every file write fails
	// (this works even as root, unlike taking permissions away).
	tmp := filepath.Join(dir, ".tmp")
	if err := os.Remove(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	first := makeRecords("a", 2, 10)
	if err := d.Write(t.Context(), "s", first); err != nil {
		t.Fatalf("the first Write should buffer despite the failed flush: %v", err)
	}
	if err := d.Write(t.Context(), "s", makeRecords("b", 1, 10)); err == nil {
		t.Fatal("Write accepted records while files cannot be written")
	}
	if err := d.Flush(t.Context()); err == nil {
		t.Fatal("Flush reported no failure")
	}
	// Repair and flush: nothing that was accepted is lost.
	if err := os.Remove(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	closeSink(t, d)
	var all []byte
	for _, b := range dirFiles(t, dir) {
		all = append(all, b...)
	}
	if !bytes.Equal(all, bytes.Join(first, nil)) {
		t.Fatalf("files hold %q, want the accepted records", all)
	}
}

func TestDirSinkRefusesPathLikeStreamNames(t *testing.T) {
	t.Parallel()
	d, err := NewDirSink(DirOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSink(t, d)
	for _, name := range []string{"", ".", "..", "a/b", `a\b`} {
		if err := d.Write(t.Context(), name, [][]byte{{1}}); err == nil {
			t.Fatalf("stream %q accepted", name)
		}
	}
}

// TestDirSinkBehindServer is the sandbox's set-up: the real SDK puts, and
// each stream's files, in the order they were written, hold exactly what was
// acknowledged, in order.
func TestDirSinkBehindServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var (
		mu    sync.Mutex
		order []FileInfo
	)
	d, err := NewDirSink(DirOptions{Dir: dir, BufferBytes: 4 << 10, BufferInterval: time.Hour,
		OnFile: func(fi FileInfo) { mu.Lock(); order = append(order, fi); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	srv, c := start(t, Options{AutoCreate: true, Sink: d})
	srv.Faults().FailRecords(RecordFault{Stream: "b", Every: 5})
	want := map[string][]byte{}
	for i := range 6 {
		for _, stream := range []string{"a", "b"} {
			records := makeRecords(stream+string(rune('0'+i)), 40, 50)
			out := mustPutBatch(t, c, stream, records)
			want[stream] = append(want[stream], bytes.Join(without(records, failedIndexes(t, out)), nil)...)
		}
	}
	closeSink(t, d) // after the last acknowledged call; the server is idle

	files := dirFiles(t, dir)
	if len(files) != len(order) {
		t.Fatalf("%d files on disk, %d reported", len(files), len(order))
	}
	got := map[string][]byte{}
	for _, fi := range order {
		rel, _ := filepath.Rel(dir, fi.Path)
		rel = filepath.ToSlash(rel)
		if !strings.HasPrefix(rel, fi.Stream+"/") {
			t.Fatalf("file %s is outside its stream's directory", rel)
		}
		got[fi.Stream] = append(got[fi.Stream], files[rel]...)
	}
	for stream, w := range want {
		if !bytes.Equal(got[stream], w) {
			t.Fatalf("stream %s: files hold %d bytes, want %d, in order", stream, len(got[stream]), len(w))
		}
		if tot := d.Totals()[stream]; tot.Bytes != int64(len(w)) || tot.PendingBytes != 0 || tot.Files < 2 {
			t.Fatalf("Totals[%s] = %+v", stream, tot)
		}
	}
}
