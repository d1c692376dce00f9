package eventgen

// The identifier formats below imitate what Segment's libraries put in
// messageId and anonymousId. Every one is derived from a 64-bit value that
// the caller guarantees unique (a bijection of a counter), so identifiers
// never repeat within a generator; the other bits are only decoration.

const (
	lowerHex = "0123456789abcdef"
	upperHex = "0123456789ABCDEF"
	base62   = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// appendUUID appends a version-4-shaped UUID in canonical form. unique fills
// the 64 bits free of the version and variant fields that matter for
// uniqueness (bytes 0-5 and 10-11); extra fills the rest.
func appendUUID(b []byte, unique, extra uint64, upper bool) []byte {
	var u [16]byte
	for i := range 6 {
		u[i] = byte(unique >> (8 * i))
	}
	u[10] = byte(unique >> 48)
	u[11] = byte(unique >> 56)
	u[6] = 0x40 | byte(extra)&0x0f
	u[7] = byte(extra >> 8)
	u[8] = 0x80 | byte(extra>>16)&0x3f
	u[9] = byte(extra >> 24)
	u[12] = byte(extra >> 32)
	u[13] = byte(extra >> 40)
	u[14] = byte(extra >> 48)
	u[15] = byte(extra >> 56)
	digits := lowerHex
	if upper {
		digits = upperHex
	}
	for i, x := range u {
		switch i {
		case 4, 6, 8, 10:
			b = append(b, '-')
		}
		b = append(b, digits[x>>4], digits[x&0xf])
	}
	return b
}

// appendHex appends v as 16 lowercase hex digits.
func appendHex(b []byte, v uint64) []byte {
	for i := 60; i >= 0; i -= 4 {
		b = append(b, lowerHex[v>>uint(i)&0xf])
	}
	return b
}

// appendBase62 appends v as exactly n base-62 digits, most significant
// first; n of 11 holds any uint64 without loss.
func appendBase62(b []byte, v uint64, n int) []byte {
	start := len(b)
	for range n {
		b = append(b, 0)
	}
	for i := len(b) - 1; i >= start; i-- {
		b[i] = base62[v%62]
		v /= 62
	}
	return b
}
