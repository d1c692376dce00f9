package scrub

import "testing"

func TestReleasedScrubsOnlyInRaceBuilds(t *testing.T) {
	t.Parallel()
	b := []byte("keep")
	Released(b)
	want := "keep"
	if On {
		want = string([]byte{Byte, Byte, Byte, Byte})
	}
	if string(b) != want {
		t.Errorf("after Released: %q, want %q (On=%v)", b, want, On)
	}
}
