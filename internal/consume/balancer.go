package consume

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"

	"github.com/segmentio/kafka-go"
)

// stickyProtocol names the balancer in the group protocol. Members offer it
// first and kafka-go's range balancer second, so a group in the middle of an
// upgrade from a version without it agrees on range.
const stickyProtocol = "firehose-worker-sticky"

// stickyBalancer is a group balancer that keeps each partition with the
// member that owned it in the previous generation, as far as balance allows:
// every member of a topic gets the floor or the ceiling of its share, as with
// the range balancer. The range balancer re-deals partitions in member-id
// order, so when one worker of a fleet leaves or joins, most partitions move
// to another worker; in a rolling restart a partition could pass through
// several workers about to be stopped, each handing it over before it had
// committed anything. With this one, a leaving worker's partitions go to the
// members below their share (its replacement, when it joins in the same
// rebalance), and nothing else moves.
//
// Each member says what it owns in its join metadata (UserData). Metadata it
// cannot read (another version) counts as owning nothing; a partition two
// members claim goes to the first by member id. The result never depends on
// anything but the members and their metadata, so it is correct whoever the
// leader is.
type stickyBalancer struct {
	owned func() map[string][]int // topic -> partitions of the last generation
}

type stickyData struct {
	Version int              `json:"v"`
	Owned   map[string][]int `json:"owned"`
}

func (stickyBalancer) ProtocolName() string { return stickyProtocol }

func (b stickyBalancer) UserData() ([]byte, error) {
	return json.Marshal(stickyData{Version: 1, Owned: b.owned()})
}

func (stickyBalancer) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	byTopic := map[string][]int{}
	for _, p := range partitions {
		byTopic[p.Topic] = append(byTopic[p.Topic], p.ID)
	}
	prev := map[string]map[string][]int{}
	for _, m := range members {
		var d stickyData
		if json.Unmarshal(m.UserData, &d) == nil && d.Version == 1 {
			prev[m.ID] = d.Owned
		}
	}
	members = slices.SortedFunc(slices.Values(members), func(a, b kafka.GroupMember) int { return cmp.Compare(a.ID, b.ID) })
	out := kafka.GroupMemberAssignments{}
	for _, topic := range slices.Sorted(maps.Keys(byTopic)) {
		parts := slices.Sorted(slices.Values(byTopic[topic]))
		var eligible []string
		for _, m := range members {
			if slices.Contains(m.Topics, topic) {
				eligible = append(eligible, m.ID)
			}
		}
		if len(eligible) == 0 {
			continue
		}
		for id, ps := range assignTopic(parts, eligible, func(id string) []int { return prev[id][topic] }) {
			if len(ps) == 0 {
				continue
			}
			if out[id] == nil {
				out[id] = map[string][]int{}
			}
			out[id][topic] = ps
		}
	}
	return out
}

// assignTopic deals parts among members (sorted by id), keeping what each
// owned before within its share.
func assignTopic(parts []int, members []string, before func(id string) []int) map[string][]int {
	exists := map[int]bool{}
	for _, p := range parts {
		exists[p] = true
	}
	claimed := map[int]bool{}
	keep := map[string][]int{}
	for _, id := range members {
		for _, p := range slices.Sorted(slices.Values(before(id))) {
			if exists[p] && !claimed[p] {
				claimed[p] = true
				keep[id] = append(keep[id], p)
			}
		}
	}
	// The members that keep the most get the places above the floor, so
	// the fewest partitions move.
	base, extra := len(parts)/len(members), len(parts)%len(members)
	order := slices.Clone(members)
	slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(len(keep[b]), len(keep[a])) })
	quota := map[string]int{}
	for i, id := range order {
		quota[id] = base
		if i < extra {
			quota[id]++
		}
	}
	out := map[string][]int{}
	var free []int
	for _, id := range members {
		k := keep[id]
		if len(k) > quota[id] {
			free = append(free, k[quota[id]:]...)
			k = k[:quota[id]]
		}
		out[id] = k
	}
	for _, p := range parts {
		if !claimed[p] {
			free = append(free, p)
		}
	}
	slices.Sort(free)
	for _, id := range members {
		for len(out[id]) < quota[id] && len(free) > 0 {
			out[id] = append(out[id], free[0])
			free = free[1:]
		}
		slices.Sort(out[id])
	}
	return out
}
