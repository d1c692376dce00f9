//go:build race

package eventgen

const raceEnabled = true
