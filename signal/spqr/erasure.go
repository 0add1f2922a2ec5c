package spqr

import (
	"encoding/binary"
	"slices"
)

// The erasure code of the reference (src/encoding/polynomial.rs): a message
// of 2-byte words is spread over 16 polynomials over GF(2^16), word i going
// to polynomial i%16 as its value at x = i/16. Chunk number n carries the
// 16 values of the polynomials at x = n (32 bytes), so the first chunks are
// the message itself and every later chunk is a fresh redundant one: any
// ceil(len/32) distinct chunks rebuild the message, whatever ones were lost.

const (
	chunkSize = 32
	numPolys  = chunkSize / 2
)

// chunk is one 32-byte piece of an encoded message.
type chunk struct {
	index uint16
	data  [chunkSize]byte
}

// encoder hands out the chunks of one message. It starts with the
// message's words as points; when asked for a point past them it replaces
// them with the interpolated polynomials (coefficients, lowest first), as
// the reference does, which changes how it is serialized.
type encoder struct {
	idx   uint32
	pts   [][]uint16 // numPolys lists of values at x = 0, 1, ...; nil once polys is set
	polys [][]uint16 // numPolys coefficient lists
}

// newEncoder encodes msg, whose length must be even.
func newEncoder(msg []byte) *encoder {
	e := &encoder{pts: make([][]uint16, numPolys)}
	for i := range numPolys {
		e.pts[i] = make([]uint16, 0, (len(msg)/2+numPolys-1)/numPolys)
	}
	for i := 0; i+1 < len(msg); i += 2 {
		p := (i / 2) % numPolys
		e.pts[p] = append(e.pts[p], binary.BigEndian.Uint16(msg[i:]))
	}
	return e
}

// next returns the next chunk; the index wraps at 2^16 as in the reference.
func (e *encoder) next() chunk {
	c := e.chunkAt(uint16(e.idx))
	e.idx++
	return c
}

func (e *encoder) chunkAt(idx uint16) chunk {
	c := chunk{index: idx}
	for p := range numPolys {
		binary.BigEndian.PutUint16(c.data[2*p:], e.pointAt(p, int(idx)))
	}
	return c
}

func (e *encoder) pointAt(p, x int) uint16 {
	if e.polys == nil {
		if x < len(e.pts[p]) {
			return e.pts[p][x]
		}
		e.polys = make([][]uint16, numPolys)
		for i, ys := range e.pts {
			e.polys[i] = interpolateComplete(ys)
		}
		e.pts = nil
	}
	return evalPoly(e.polys[p], uint16(x))
}

// interpolateComplete returns the coefficients of the polynomial of degree
// < len(ys) through (0, ys[0]), (1, ys[1]), ...: always len(ys) of them.
func interpolateComplete(ys []uint16) []uint16 {
	xs := make([]uint16, len(ys))
	for i := range xs {
		xs[i] = uint16(i)
	}
	return interpolate(xs, ys)
}

// interpolate returns the len(xs) coefficients (lowest first) of the unique
// polynomial of degree < len(xs) through the points (xs[i], ys[i]); the xs
// are distinct. Lagrange's form, in O(n^2): the product M(x) = prod(x-xj)
// is divided by each (x - xj) in turn and the quotients are summed with
// weights yj / q_j(xj).
func interpolate(xs, ys []uint16) []uint16 {
	n := len(xs)
	out := make([]uint16, n)
	if n == 0 {
		return out
	}
	// m holds the n+1 coefficients of M(x), lowest first.
	m := make([]uint16, n+1)
	m[0] = 1
	for k, xk := range xs {
		// m *= (x - xk); subtraction is addition in characteristic 2.
		for i := k + 1; i > 0; i-- {
			m[i] = m[i-1] ^ gfMul(m[i], xk)
		}
		m[0] = gfMul(m[0], xk)
	}
	q := make([]uint16, n)
	for j, xj := range xs {
		// q = M / (x - xj) by synthetic division (exact).
		carry := uint16(0)
		for i := n; i > 0; i-- {
			carry = m[i] ^ gfMul(carry, xj)
			q[i-1] = carry
		}
		w := gfDiv(ys[j], evalPoly(q, xj))
		for i := range q {
			out[i] ^= gfMul(q[i], w)
		}
	}
	return out
}

// evalPoly evaluates the polynomial with coefficients c (lowest first) at x.
func evalPoly(c []uint16, x uint16) uint16 {
	var y uint16
	for i := len(c) - 1; i >= 0; i-- {
		y = gfMul(y, x) ^ c[i]
	}
	return y
}

// point is a value of a polynomial at x.
type point struct{ x, y uint16 }

// decoder collects chunks of a message of a known length until it can
// rebuild it. Each polynomial keeps its points sorted by x; a point with an
// x already held replaces the old one (the reference's SortedSet::push).
type decoder struct {
	ptsNeeded  uint32
	pts        [numPolys][]point
	isComplete bool
}

// newDecoder expects a message of n bytes (n even).
func newDecoder(n int) *decoder { return &decoder{ptsNeeded: uint32(n / 2)} }

// necessary is how many points polynomial p needs.
func (d *decoder) necessary(p int) int {
	n := int(d.ptsNeeded / numPolys)
	if p < int(d.ptsNeeded%numPolys) {
		n++
	}
	return n
}

func (d *decoder) add(c chunk) {
	x := c.index
	for p := range numPolys {
		need := d.necessary(p)
		// Keep a point if it is needed, or if its x is small enough that
		// it may spare an interpolation.
		if int(x) < need || len(d.pts[p]) < need {
			d.pts[p] = insertPoint(d.pts[p], point{x: x, y: binary.BigEndian.Uint16(c.data[2*p:])})
		}
	}
}

// insertPoint inserts pt into pts (sorted by x), replacing a point with
// the same x.
func insertPoint(pts []point, pt point) []point {
	i, found := slices.BinarySearchFunc(pts, pt.x, func(a point, x uint16) int { return int(a.x) - int(x) })
	if found {
		pts[i] = pt
		return pts
	}
	return slices.Insert(pts, i, pt)
}

// decoded returns the message once enough chunks have arrived, else nil.
func (d *decoder) decoded() []byte {
	if d.isComplete {
		return nil
	}
	for p := range numPolys {
		if len(d.pts[p]) < d.necessary(p) {
			return nil
		}
	}
	var polys [numPolys][]uint16
	out := make([]byte, 2*int(d.ptsNeeded))
	for i := range int(d.ptsNeeded) {
		p, x := i%numPolys, uint16(i/numPolys)
		pts := d.pts[p]
		var y uint16
		if j, ok := slices.BinarySearchFunc(pts, x, func(a point, x uint16) int { return int(a.x) - int(x) }); ok {
			y = pts[j].y
		} else {
			if polys[p] == nil {
				// Interpolate through the lowest-x points, as many as needed.
				use := pts[:d.necessary(p)]
				xs, ys := make([]uint16, len(use)), make([]uint16, len(use))
				for k, pt := range use {
					xs[k], ys[k] = pt.x, pt.y
				}
				polys[p] = interpolate(xs, ys)
			}
			y = evalPoly(polys[p], x)
		}
		binary.BigEndian.PutUint16(out[2*i:], y)
	}
	return out
}
