//go:build !race

package eventgen

// raceEnabled reports a -race build, whose instrumentation allocates and
// slows things down, so allocation and timing checks must relax.
const raceEnabled = false
