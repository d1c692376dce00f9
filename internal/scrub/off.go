//go:build !race

package scrub

// On reports whether Released scrubs: only in race-detector builds.
const On = false
