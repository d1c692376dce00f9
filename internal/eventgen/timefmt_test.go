package eventgen

import (
	"testing"
	"time"
)

func TestAppendTimestamp(t *testing.T) {
	r := rng{s: 1}
	instants := []int64{0, -1, 1, 951782400_000_000 /* 2000-02-29 */, -2208988800_000_000 /* 1900 */, 253402300799_999_999 /* 9999 */}
	for range 100_000 {
		// Between 1900 and 2200.
		instants = append(instants, int64(r.next()%(300*365*86400_000_000))-2208988800_000_000)
	}
	for _, us := range instants {
		tm := time.UnixMicro(us).UTC()
		if got, want := string(appendTimestamp(nil, us)), tm.Format("2006-01-02T15:04:05.000Z"); got != want {
			t.Fatalf("appendTimestamp(%d) = %s, want %s", us, got, want)
		}
		if got, want := string(appendTimestampPython(nil, us)), tm.Format("2006-01-02T15:04:05.000000+00:00"); got != want {
			t.Fatalf("appendTimestampPython(%d) = %s, want %s", us, got, want)
		}
	}
}
