//go:build !race

package firehosesim

// raceEnabled scales down tests whose cost the race detector multiplies.
const raceEnabled = false
