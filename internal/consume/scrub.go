//go:build !race

package consume

// scrubReleased: see scrub_race.go.
const scrubReleased = false
