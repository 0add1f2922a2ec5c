package spqr

import (
	"testing"
)

// BenchmarkSendRecv measures one message each way in lock step (two Sends
// and two Recvs per iteration), through epochs: key generation,
// encapsulation and decapsulation included at their natural rate.
func BenchmarkSendRecv(b *testing.B) {
	rnd := newChacha(3)
	x, y := newPair(b, V1, ChainParams{})
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range []*party{x, y} {
			next, msg, _, err := Send(p.state, rnd)
			if err != nil {
				b.Fatal(err)
			}
			p.state = next
			q := x
			if p == x {
				q = y
			}
			if q.state, _, err = Recv(q.state, msg); err != nil {
				b.Fatal(err)
			}
		}
	}
}
