package firehosesim

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMemorySinkCopiesRecords(t *testing.T) {
	t.Parallel()
	m := NewMemorySink()
	in := [][]byte{[]byte("one\n"), []byte("two\n")}
	if err := m.Write(t.Context(), "s", in); err != nil {
		t.Fatal(err)
	}
	in[0][0] = 'X' // the Server reuses its buffers exactly like this
	equalRecords(t, "records", m.Records("s"), [][]byte{[]byte("one\n"), []byte("two\n")})
	if err := m.Write(t.Context(), "t", [][]byte{[]byte("3")}); err != nil {
		t.Fatal(err)
	}
	if records, bytes := m.Totals(); records != 3 || bytes != 9 {
		t.Fatalf("Totals = %d, %d; want 3, 9", records, bytes)
	}
	names := m.Streams()
	slices.Sort(names)
	if !slices.Equal(names, []string{"s", "t"}) || m.Count("t") != 1 || m.Bytes("s") != 8 || m.Count("none") != 0 {
		t.Fatalf("streams %v, counts %d/%d", names, m.Count("t"), m.Bytes("s"))
	}
}

func TestMemorySinkWaitForWakesOnWrite(t *testing.T) {
	t.Parallel()
	m := NewMemorySink()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// The writer starts only after the first check has failed, so WaitFor
	// can only succeed by being woken by the writes.
	checked := make(chan struct{})
	first := true
	cond := func() bool {
		if first {
			first = false
			close(checked)
			return false
		}
		return m.Count("s") >= 5
	}
	go func() {
		<-checked
		for i := range 5 {
			_ = m.Write(ctx, "s", [][]byte{{byte(i)}})
		}
	}()
	if err := m.WaitFor(ctx, cond); err != nil {
		t.Fatalf("WaitFor: %v", err)
	}
	if err := m.Await(ctx, "s", 5); err != nil {
		t.Fatalf("Await after the writes: %v", err)
	}
}

func TestMemorySinkAwaitGivesUpWithContext(t *testing.T) {
	t.Parallel()
	m := NewMemorySink()
	_ = m.Write(t.Context(), "s", [][]byte{{1}})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	err := m.Await(ctx, "s", 2)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Await = %v, want the deadline", err)
	}
	if want := `1 of 2 records on "s"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}
