package spqr

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestGFFieldLaws(t *testing.T) {
	t.Parallel()
	// x (= 2) generates the multiplicative group: 0x1100b is primitive, so
	// the powers of 2 run through all 65535 non-zero elements.
	seen := make([]bool, 1<<16)
	v := uint16(1)
	for i := range 65535 {
		if seen[v] {
			t.Fatalf("2^%d = %#x repeats", i, v)
		}
		seen[v] = true
		v = gfMul(v, 2)
	}
	if v != 1 {
		t.Fatalf("2^65535 = %#x, want 1", v)
	}
	for a := 1; a < 1<<16; a++ {
		if got := gfMul(uint16(a), gfInv(uint16(a))); got != 1 {
			t.Fatalf("%#x * inv = %#x", a, got)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		a, b, c := uint16(r.Uint32()), uint16(r.Uint32()), uint16(r.Uint32())
		if gfMul(a, b^c) != gfMul(a, b)^gfMul(a, c) {
			t.Fatalf("not distributive at %#x %#x %#x", a, b, c)
		}
		if gfMul(gfMul(a, b), c) != gfMul(a, gfMul(b, c)) {
			t.Fatalf("not associative at %#x %#x %#x", a, b, c)
		}
		if gfMul(a, b) != gfMul(b, a) {
			t.Fatalf("not commutative at %#x %#x", a, b)
		}
	}
	// x^16 reduces to x^12 + x^3 + x + 1.
	if got := gfMul(1<<15, 2); got != 0x100b {
		t.Fatalf("x^16 = %#x, want 0x100b", got)
	}
}

func TestInterpolate(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 3, 5, 30, 36} {
		xs, ys := make([]uint16, n), make([]uint16, n)
		perm := r.Perm(1000)
		for i := range n {
			xs[i], ys[i] = uint16(perm[i]), uint16(r.Uint32())
		}
		c := interpolate(xs, ys)
		if len(c) != n {
			t.Fatalf("n=%d: %d coefficients", n, len(c))
		}
		for i := range n {
			if got := evalPoly(c, xs[i]); got != ys[i] {
				t.Fatalf("n=%d: f(%d) = %#x, want %#x", n, xs[i], got, ys[i])
			}
		}
	}
}

func TestErasureRoundTrip(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	for _, size := range []int{10, 96, 160, 960, 1152} {
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte(r.Uint32())
		}
		needed := (size + chunkSize - 1) / chunkSize
		cases := map[string][]int{
			"in order":       seq(0, needed),
			"all redundant":  seq(needed+1, 2*needed+1),
			"mixed and dups": append(append(seq(needed/2, needed), seq(3*needed, 3*needed+needed/2+1)...), needed/2),
		}
		for name, idxs := range cases {
			enc := newEncoder(msg)
			dec := newDecoder(size)
			var got []byte
			for _, i := range idxs {
				if got != nil {
					break
				}
				dec.add(enc.chunkAt(uint16(i)))
				got = dec.decoded()
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("size %d %s: decoded %x, want %x", size, name, got, msg)
			}
		}
	}
}

// TestErasureLosses sends chunks of a 1152-byte message over a link that
// drops most of them; the receiver rebuilds it from exactly as many chunks
// as the message has.
func TestErasureLosses(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 8))
	msg := make([]byte, 1152)
	for i := range msg {
		msg[i] = byte(r.Uint32())
	}
	enc := newEncoder(msg)
	dec := newDecoder(len(msg))
	got, received := []byte(nil), 0
	for got == nil {
		c := enc.next()
		if r.IntN(3) != 0 {
			continue
		}
		dec.add(c)
		received++
		got = dec.decoded()
	}
	if !bytes.Equal(got, msg) || received != 36 {
		t.Fatalf("decoded after %d chunks, equal=%v", received, bytes.Equal(got, msg))
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}
