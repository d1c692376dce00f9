// Package scrub overwrites memory a package hands back for reuse, in
// race-detector builds only (which is how the tests run: make test). A
// path that keeps using such memory then reads garbage in a test instead
// of, rarely and silently, someone else's data in production.
//
// Callers may rely on: in race builds, Released fills the bytes with Byte;
// otherwise it does nothing and costs nothing.
package scrub

// Byte is what released memory holds in race builds: not valid UTF-8, so
// no JSON check passes over it.
const Byte = 0xff

// Released overwrites b with Byte when On.
func Released(b []byte) {
	if On {
		for i := range b {
			b[i] = Byte
		}
	}
}
