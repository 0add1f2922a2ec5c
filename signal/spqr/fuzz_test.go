package spqr

import (
	"bytes"
	"errors"
	mrand "math/rand/v2"
	"testing"
)

// Fuzz targets for the two decoders: messages (through Recv) and states
// (through decodeState, Send and Recv). Neither may panic, every error
// must be one of the package's, and a state that decodes re-encodes to a
// fixed point. Run with, for example:
//
//	go test -run '^$' -fuzz FuzzRecv -fuzztime 30s ./signal/spqr/
//	go test -run '^$' -fuzz FuzzState -fuzztime 30s ./signal/spqr/

// chachaReader is a deterministic random source for fuzzing.
type chachaReader struct{ r *mrand.ChaCha8 }

func (c chachaReader) Read(p []byte) (int, error) { return c.r.Read(p) }

func newChacha(seed byte) chachaReader {
	var s [32]byte
	s[0] = seed
	return chachaReader{mrand.NewChaCha8(s)}
}

// fuzzStates returns states from several phases of a deterministic
// conversation, and messages from it.
func fuzzStates(t testing.TB) (states, msgs [][]byte) {
	rnd := newChacha(1)
	a, b := newPair(t, V1, ChainParams{MaxJump: 50, MaxOOOKeys: 20})
	for i := range 90 {
		for _, p := range []*party{a, b} {
			next, msg, _, err := Send(p.state, rnd)
			if err != nil {
				t.Fatal(err)
			}
			p.state = next
			q := a
			if p == a {
				q = b
			}
			if q.state, _, err = Recv(q.state, msg); err != nil {
				t.Fatal(err)
			}
			if i%15 == 0 {
				msgs = append(msgs, msg)
				states = append(states, q.state)
			}
		}
	}
	return states, msgs
}

func FuzzRecv(f *testing.F) {
	states, msgs := fuzzStates(f)
	for i, m := range msgs {
		f.Add(uint8(i), m)
	}
	f.Add(uint8(0), []byte{})
	f.Add(uint8(1), []byte{1, 1, 1, 0})
	f.Add(uint8(2), []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 6})
	f.Fuzz(func(t *testing.T, which uint8, msg []byte) {
		state := states[int(which)%len(states)]
		next, _, err := Recv(state, msg)
		if err != nil {
			if !isTyped(err) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if _, err := decodeState(next); err != nil && len(next) > 0 {
			t.Fatalf("Recv returned an undecodable state: %v", err)
		}
	})
}

func FuzzState(f *testing.F) {
	states, msgs := fuzzStates(f)
	for _, s := range states {
		f.Add(s)
	}
	f.Add([]byte{})
	f.Add([]byte{0x1a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, state []byte) {
		s, err := decodeState(state)
		if err != nil {
			if !errors.Is(err, ErrStateDecode) {
				t.Fatalf("decode: untyped error %v", err)
			}
		} else {
			once := s.marshal()
			s2, err := decodeState(once)
			if err != nil {
				t.Fatalf("re-encoded state does not decode: %v", err)
			}
			if twice := s2.marshal(); !bytes.Equal(once, twice) {
				t.Fatal("encoding is not a fixed point")
			}
		}
		if _, _, _, err := Send(state, newChacha(2)); err != nil && !isTyped(err) {
			t.Fatalf("Send: untyped error %v", err)
		}
		for _, m := range msgs[:3] {
			if _, _, err := Recv(state, m); err != nil && !isTyped(err) {
				t.Fatalf("Recv: untyped error %v", err)
			}
		}
	})
}
