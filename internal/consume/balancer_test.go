package consume

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"
)

func member(t *testing.T, id string, owned map[string][]int) kafka.GroupMember {
	t.Helper()
	data, err := stickyBalancer{owned: func() map[string][]int { return owned }}.UserData()
	if err != nil {
		t.Fatal(err)
	}
	return kafka.GroupMember{ID: id, Topics: []string{"t"}, UserData: data}
}

func topicParts(n int) []kafka.Partition {
	ps := make([]kafka.Partition, n)
	for i := range ps {
		ps[i] = kafka.Partition{Topic: "t", ID: i}
	}
	return ps
}

// checkBalanced fails unless every partition of "t" is assigned exactly
// once and each member has the floor or the ceiling of its share.
func checkBalanced(t *testing.T, a kafka.GroupMemberAssignments, members, parts int) {
	t.Helper()
	seen := map[int]int{}
	for id, topics := range a {
		n := len(topics["t"])
		if n < parts/members || n > (parts+members-1)/members {
			t.Errorf("member %s has %d partitions, want %d or %d: %v", id, n, parts/members, (parts+members-1)/members, a)
		}
		for _, p := range topics["t"] {
			seen[p]++
		}
	}
	for p := range parts {
		if seen[p] != 1 {
			t.Errorf("partition %d assigned %d times: %v", p, seen[p], a)
		}
	}
}

func moved(before map[string][]int, after kafka.GroupMemberAssignments) int {
	n := 0
	for id, ps := range before {
		for _, p := range ps {
			if !slices.Contains(after[id]["t"], p) {
				n++
			}
		}
	}
	return n
}

func TestStickyBalancer(t *testing.T) {
	t.Parallel()
	b := stickyBalancer{}
	range6 := map[string][]int{} // what six members of 48 own, eight each
	for i := range 6 {
		for p := 8 * i; p < 8*i+8; p++ {
			range6[fmt.Sprint("m", i)] = append(range6[fmt.Sprint("m", i)], p)
		}
	}
	cases := []struct {
		name      string
		owned     map[string][]int // by member; nil: a new member
		joining   []string         // members without metadata
		parts     int
		wantMoved int // partitions of the survivors that moved
		check     func(t *testing.T, a kafka.GroupMemberAssignments)
	}{
		{name: "first generation", joining: []string{"a", "b", "c"}, parts: 12},
		{name: "one of six leaves and its replacement joins in the same rebalance", parts: 48,
			owned:   map[string][]int{"m0": range6["m0"], "m1": range6["m1"], "m2": range6["m2"], "m3": range6["m3"], "m5": range6["m5"]},
			joining: []string{"m4new"},
			check: func(t *testing.T, a kafka.GroupMemberAssignments) {
				if got := a["m4new"]["t"]; !slices.Equal(got, range6["m4"]) {
					t.Errorf("the replacement got %v, want the leaver's %v", got, range6["m4"])
				}
			}},
		{name: "one of six leaves", parts: 48,
			owned: map[string][]int{"m0": range6["m0"], "m1": range6["m1"], "m2": range6["m2"], "m3": range6["m3"], "m5": range6["m5"]}},
		{name: "a seventh joins: only the surplus moves", parts: 48, owned: range6, joining: []string{"new"}, wantMoved: 6},
		{name: "two claim the same partitions", parts: 4,
			owned: map[string][]int{"a": {0, 1, 2, 3}, "b": {0, 1}}, wantMoved: 4,
			check: func(t *testing.T, a kafka.GroupMemberAssignments) {
				if got := a["a"]["t"]; !slices.Equal(got, []int{0, 1}) {
					t.Errorf("a got %v, want [0 1] (kept first, within its share)", got)
				}
			}},
		{name: "claims of partitions that no longer exist", parts: 2, owned: map[string][]int{"a": {0, 5, 9}}, joining: []string{"b"}, wantMoved: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var ms []kafka.GroupMember
			for id, ps := range c.owned {
				ms = append(ms, member(t, id, map[string][]int{"t": ps}))
			}
			for _, id := range c.joining {
				ms = append(ms, kafka.GroupMember{ID: id, Topics: []string{"t"}})
			}
			a := b.AssignGroups(ms, topicParts(c.parts))
			checkBalanced(t, a, len(ms), c.parts)
			if n := moved(c.owned, a); c.owned != nil && n > c.wantMoved {
				t.Errorf("%d partitions moved away from members that stayed, want at most %d: %v", n, c.wantMoved, a)
			}
			if c.check != nil {
				c.check(t, a)
			}
		})
	}
}

func TestStickyBalancerIgnoresForeignUserData(t *testing.T) {
	t.Parallel()
	other, _ := json.Marshal(map[string]any{"v": 2, "owned": map[string][]int{"t": {0, 1, 2}}})
	ms := []kafka.GroupMember{
		{ID: "a", Topics: []string{"t"}, UserData: []byte("not json")},
		{ID: "b", Topics: []string{"t"}, UserData: other},
		{ID: "c", Topics: []string{"t", "u"}},
	}
	parts := append(topicParts(6), kafka.Partition{Topic: "u", ID: 0})
	a := stickyBalancer{}.AssignGroups(ms, parts)
	checkBalanced(t, kafka.GroupMemberAssignments{"a": a["a"], "b": a["b"], "c": a["c"]}, 3, 6)
	if got := a["c"]["u"]; !slices.Equal(got, []int{0}) {
		t.Errorf("topic u, which only c reads, went %v", a)
	}
}
