package route

import (
	"strings"
	"testing"
)

// FuzzRoute checks Route against the rules stated directly: every stream
// returned has a row that matches (the track's name or the type, compared
// case-insensitively, or "*"), every matching row's stream is returned in
// "all" mode, and no stream is returned twice.
func FuzzRoute(f *testing.F) {
	f.Add("User Registered", "page", "*", "track", "user registered", false)
	f.Add("ÉVÉNEMENT", "Identify", "x", "identify", "événement", true)
	f.Add("", " * ", "track", "track", "", false)
	f.Fuzz(func(t *testing.T, e1, e2, e3, typ, event string, firstMatch bool) {
		rows := []Row{{e1, "s1"}, {e2, "s2"}, {e3, "s3"}, {e1, "s1"}}
		tab := New(rows, firstMatch)
		isTrack := strings.EqualFold(typ, "track")
		got := tab.Route(nil, []byte(typ), []byte(event), isTrack)
		seen := map[string]bool{}
		for _, id := range got {
			s := tab.Streams()[id]
			if seen[s] {
				t.Fatalf("stream %s returned twice", s)
			}
			seen[s] = true
		}
		matches := func(r Row) bool {
			ev := strings.TrimSpace(r.Event)
			if ev == Wildcard {
				return true
			}
			return strings.ToLower(ev) == strings.ToLower(typ) || (isTrack && event != "" && strings.ToLower(ev) == strings.ToLower(event))
		}
		for _, r := range rows {
			if matches(r) && !firstMatch && !seen[r.Stream] {
				t.Fatalf("row %+v matches %q/%q but %s was not returned", r, typ, event, r.Stream)
			}
		}
		for s := range seen {
			ok := false
			for _, r := range rows {
				ok = ok || (r.Stream == s && matches(r))
			}
			if !ok {
				t.Fatalf("stream %s returned with no matching row for %q/%q", s, typ, event)
			}
		}
	})
}
