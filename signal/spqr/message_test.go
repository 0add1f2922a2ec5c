package spqr

import (
	"bytes"
	mrand "math/rand/v2"
	"testing"
)

func TestVarint(t *testing.T) {
	t.Parallel()
	if got := appendVarint(nil, 0x012c); !bytes.Equal(got, []byte{0xac, 0x02}) {
		t.Fatalf("%x", got)
	}
	at := 1
	if v, err := readVarint([]byte{0xff, 0xac, 0x02, 0xff}, &at); err != nil || v != 0x012c || at != 3 {
		t.Fatalf("%d %v %d", v, err, at)
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	for range 10000 {
		v := r.Uint64() >> r.IntN(64)
		b := appendVarint(nil, v)
		at := 0
		if got, err := readVarint(b, &at); err != nil || got != v || at != len(b) {
			t.Fatalf("%d: %d %v", v, got, err)
		}
	}
}

func TestMessageRoundTrip(t *testing.T) {
	t.Parallel()
	for typ := msgNone; typ <= msgCt2; typ++ {
		m := message{epoch: 300, typ: typ}
		if typ.hasChunk() {
			m.chunk = chunk{index: 65535}
			m.chunk.data[0], m.chunk.data[31] = 1, 2
		}
		b := m.marshal(70000)
		got, idx, err := parseMessage(b)
		if err != nil || got != m || idx != 70000 {
			t.Fatalf("type %d: %+v %d %v", typ, got, idx, err)
		}
	}
	// Layout: version, epoch, index, type, chunk index, data.
	m := message{epoch: 1, typ: msgHdr, chunk: chunk{index: 2}}
	want := append([]byte{1, 1, 3, 1, 2}, make([]byte, 32)...)
	if got := m.marshal(3); !bytes.Equal(got, want) {
		t.Fatalf("%x", got)
	}
}
