package eventgen

// rng is SplitMix64. It is written out rather than taken from math/rand so
// that a seed keeps giving the same messages across Go releases, and because
// it is a few instructions with no allocation.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// mix64 is the SplitMix64 finalizer. It is a bijection on uint64, which is
// what makes messageIds derived from a counter unique.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// intn returns a value in [0, n) for 0 < n < 2^32.
func (r *rng) intn(n int) int {
	return int((r.next() >> 32) * uint64(n) >> 32)
}

// between returns a value in [lo, hi].
func (r *rng) between(lo, hi int) int {
	return lo + r.intn(hi-lo+1)
}

// float returns a value in [0, 1).
func (r *rng) float() float64 {
	return float64(r.next()>>11) / (1 << 53)
}

// chance reports true with probability p.
func (r *rng) chance(p float64) bool {
	return p > 0 && r.float() < p
}

// pick returns a random element of s.
func pick[T any](r *rng, s []T) T {
	return s[r.intn(len(s))]
}
