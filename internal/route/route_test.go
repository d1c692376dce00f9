package route

import (
	"slices"
	"testing"
)

func names(t *Table, ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = t.Streams()[id]
	}
	slices.Sort(out)
	return out
}

func TestRoute(t *testing.T) {
	t.Parallel()
	rows := []Row{
		{Event: "User Registered", Stream: "new_users"},
		{Event: "page", Stream: "pages"},
		{Event: "IDENTIFY", Stream: "people"},
		{Event: "Order Completed", Stream: "orders"},
		{Event: "order completed", Stream: "Orders_Exact_Case"},
		{Event: "track", Stream: "tracks"},
		{Event: "*", Stream: "everything"},
		{Event: "Product Viewed", Stream: "everything"},
		{Event: "Ünïcode Évent", Stream: "unicode"},
	}
	tests := []struct {
		name       string
		typ, event string
		firstMatch bool
		want       []string
	}{
		{"track by name, case-insensitive, plus type and *", "track", "user registered", false, []string{"everything", "new_users", "tracks"}},
		{"two rows with names differing in case both match", "track", "ORDER COMPLETED", false, []string{"Orders_Exact_Case", "everything", "orders", "tracks"}},
		{"stream matched twice is sent once", "track", "Product Viewed", false, []string{"everything", "tracks"}},
		{"page by type", "page", "", false, []string{"everything", "pages"}},
		{"type is case-insensitive", "Identify", "", false, []string{"everything", "people"}},
		{"unknown type still gets *", "screen", "", false, []string{"everything"}},
		{"a non-track event field is not a name", "page", "User Registered", false, []string{"everything", "pages"}},
		{"unicode names fold", "track", "üNÏCODE éVENT", false, []string{"everything", "tracks", "unicode"}},
		{"first_match: name wins", "track", "User Registered", true, []string{"new_users"}},
		{"first_match: type next", "page", "", true, []string{"pages"}},
		{"first_match: * last", "alias", "", true, []string{"everything"}},
		{"first_match: track without a named row goes by type", "track", "Nope", true, []string{"tracks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tab := New(rows, tt.firstMatch)
			typ := []byte(tt.typ)
			got := names(tab, tab.Route(nil, typ, []byte(tt.event), IsTrack(typ)))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Route(%q, %q) = %v, want %v", tt.typ, tt.event, got, tt.want)
			}
		})
	}
}

func TestRouteUnmatched(t *testing.T) {
	t.Parallel()
	tab := New([]Row{{Event: "page", Stream: "pages"}}, false)
	if got := tab.Route(nil, []byte("track"), []byte("Signed In"), true); len(got) != 0 {
		t.Errorf("unmatched message routed to %v", got)
	}
}

func TestRouteDoesNotAllocate(t *testing.T) {
	tab := New([]Row{{Event: "Order Completed", Stream: "orders"}, {Event: "*", Stream: "all"}}, false)
	dst := make([]int, 0, 8)
	typ, ev := []byte("track"), []byte("Order Completed")
	allocs := testing.AllocsPerRun(1000, func() {
		dst = tab.Route(dst[:0], typ, ev, IsTrack(typ))
	})
	if allocs != 0 {
		t.Errorf("Route allocates %.1f times per call", allocs)
	}
}

func BenchmarkRoute(b *testing.B) {
	tab := New([]Row{{Event: "Order Completed", Stream: "orders"}, {Event: "page", Stream: "pages"}, {Event: "*", Stream: "all"}}, false)
	dst := make([]int, 0, 8)
	typ, ev := []byte("track"), []byte("Order Completed")
	b.ReportAllocs()
	for b.Loop() {
		dst = tab.Route(dst[:0], typ, ev, IsTrack(typ))
	}
}

// MatchesAll is true exactly when a "*" row (spaces allowed) is there: the
// consumer then hands over values the pipeline keeps without copying.
func TestMatchesAll(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		rows []Row
		want bool
	}{
		{[]Row{{Event: "page", Stream: "p"}, {Event: "Order Completed", Stream: "o"}}, false},
		{[]Row{{Event: "page", Stream: "p"}, {Event: " * ", Stream: "all"}}, true},
		{[]Row{{Event: "*", Stream: "all"}}, true},
		{nil, false},
	} {
		if got := New(c.rows, false).MatchesAll(); got != c.want {
			t.Errorf("MatchesAll of %v = %v, want %v", c.rows, got, c.want)
		}
	}
}
