//go:build !race

package batch

// scrubRecycled: see scrub_race.go.
const scrubRecycled = false
