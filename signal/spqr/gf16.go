package spqr

// gfPoly is the reduction polynomial of GF(2^16) used by the reference's
// erasure code: x^16 + x^12 + x^3 + x + 1 (0x1100b).
const gfPoly = 0x1100b

// gfMul multiplies two elements of GF(2^16): a carry-less product reduced
// modulo gfPoly. It runs in constant time (no branches on the operands);
// the encoded data is public (it travels in clear on the wire), but there
// is no reason to make it otherwise.
func gfMul(a, b uint16) uint16 {
	var acc uint32
	aa := uint32(a)
	for i := range 16 {
		mask := -(uint32(b>>i) & 1)
		acc ^= (aa << i) & mask
	}
	for i := 30; i >= 16; i-- {
		mask := -((acc >> i) & 1)
		acc ^= (gfPoly << (i - 16)) & mask
	}
	return uint16(acc)
}

// gfInv returns the multiplicative inverse of a (a^(2^16-2)); the inverse
// of zero is zero, as in the reference.
func gfInv(a uint16) uint16 {
	// a^(2^16-2) = a^(2+4+...+2^15): square fifteen times, multiplying
	// the squares together.
	sq := gfMul(a, a)
	out := sq
	for range 14 {
		sq = gfMul(sq, sq)
		out = gfMul(out, sq)
	}
	return out
}

// gfDiv returns a / b.
func gfDiv(a, b uint16) uint16 { return gfMul(a, gfInv(b)) }
