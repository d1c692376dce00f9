//go:build race

package consume

// scrubReleased is on in race-detector builds, which is how the tests run
// (make test): memory an arena gives back is overwritten, so a Handler path
// that keeps a key or value without copying it delivers garbage in a test
// instead of, rarely and silently, in production.
const scrubReleased = true
