//go:build race

package batch

// scrubRecycled is on in race-detector builds, which is how the tests run
// (make test): a recycled packed record's buffer is overwritten with scrub,
// so a path that still reads a packed record after its batch was recycled
// sends garbage in a test instead of, rarely and silently, in production.
const scrubRecycled = true
