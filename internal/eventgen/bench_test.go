package eventgen

import "testing"

// BenchmarkNext measures one message with a reused buffer, the way Produce
// and a load test call it. The steady state must not allocate.
func BenchmarkNext(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"default", Options{Seed: 42}},
		{"pretty", Options{Seed: 42, PrettyShare: 1}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := New(bc.opts)
			buf := make([]byte, 0, 64<<10)
			var total int
			b.ReportAllocs()
			for b.Loop() {
				var v []byte
				v, _, _ = g.Next(buf[:0])
				total += len(v)
			}
			b.SetBytes(int64(total / b.N))
		})
	}
}
