package spqr

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

// Bad input: every failure is one of the package's errors, nothing panics,
// and the old state stays usable.

var allErrors = []error{
	ErrStateDecode, ErrMsgDecode, ErrMACVerify, ErrEpochOutOfRange, ErrVersionMismatch,
	ErrMinimumVersion, ErrKeyJump, ErrKeyTrimmed, ErrKeyAlreadyRequested, ErrErroneousData,
	ErrSendKeyEpochDecreased, ErrInvalidParams, ErrChainNotAvailable, ErrForeignState, ErrRandom,
}

func isTyped(err error) bool {
	for _, e := range allErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func TestRecvTruncated(t *testing.T) {
	t.Parallel()
	a, b := newPair(t, V1, ChainParams{})
	m := a.send(t, 0) // a header chunk: the longest message kind
	for n := range len(m.msg) {
		_, _, err := Recv(b.state, m.msg[:n])
		if err == nil || !isTyped(err) {
			t.Fatalf("prefix of %d bytes: %v", n, err)
		}
	}
	b.recv(t, 1, m) // the state is still good
}

func TestRecvMalformed(t *testing.T) {
	t.Parallel()
	a, b := newPair(t, V1, ChainParams{})
	good := a.send(t, 0).msg
	with := func(f func([]byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		msg  []byte
		want error
	}{
		{"version 0 below minimum", with(func(m []byte) []byte { m[0] = 0; return m }), ErrMinimumVersion},
		{"epoch 0", []byte{1, 0, 1, 0}, ErrMsgDecode},
		{"unknown type", []byte{1, 1, 1, 7}, ErrMsgDecode},
		{"varint too long", append([]byte{1}, bytes.Repeat([]byte{0xff}, 11)...), ErrMsgDecode},
		{"index over 32 bits", []byte{1, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 0}, ErrMsgDecode},
		{"chunk index over 16 bits", append([]byte{1, 1, 1, 1, 0x80, 0x80, 0x04}, make([]byte, 32)...), ErrMsgDecode},
		{"epoch far ahead", with(func(m []byte) []byte { m[1] = 9; return m }), ErrEpochOutOfRange},
		{"index far ahead", []byte{1, 1, 0xa0, 0x9c, 0x02, 0}, ErrKeyJump}, // 36,000 > 25,000
	}
	for _, tc := range cases {
		_, _, err := Recv(b.state, tc.msg)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Trailing bytes are allowed, as in the reference.
	if _, _, err := Recv(b.state, append(bytes.Clone(good), 1, 2, 3)); err != nil {
		t.Errorf("trailing bytes: %v", err)
	}
}

func TestRecvReplayAndWindow(t *testing.T) {
	t.Parallel()
	a, b := newPair(t, V1, ChainParams{MaxJump: 10, MaxOOOKeys: 5})
	var ms []sent
	for i := range 30 {
		ms = append(ms, a.send(t, i))
	}
	b.recv(t, 0, ms[0])
	if _, _, err := Recv(b.state, ms[0].msg); !errors.Is(err, ErrKeyAlreadyRequested) {
		t.Fatalf("replay: %v", err)
	}
	if _, _, err := Recv(b.state, ms[12].msg); !errors.Is(err, ErrKeyJump) {
		t.Fatalf("jump of 12 with MaxJump 10: %v", err)
	}
	b.recv(t, 1, ms[10])
	b.recv(t, 2, ms[20])
	if _, _, err := Recv(b.state, ms[11].msg); !errors.Is(err, ErrKeyTrimmed) {
		t.Fatalf("key 9 behind with MaxOOOKeys 5: %v", err)
	}
	b.recv(t, 3, ms[16]) // 4 behind: still kept
	if _, _, err := Recv(b.state, ms[16].msg); !errors.Is(err, ErrKeyAlreadyRequested) {
		t.Fatalf("replay of a late message: %v", err)
	}
}

// deliverUntil sends from p to q until q's state reaches kind.
func deliverUntil(t *testing.T, p, q *party, kind stateKind) {
	t.Helper()
	for i := range 200 {
		if mustDecode(t, q.state).v1.kind == kind {
			return
		}
		q.recv(t, i, p.send(t, i))
		p.recv(t, i, q.send(t, i))
	}
	t.Fatalf("never reached %v", kind)
}

func TestRecvTampered(t *testing.T) {
	t.Parallel()
	flip := func(m sent) sent {
		m.msg = bytes.Clone(m.msg)
		m.msg[len(m.msg)-1] ^= 1 // inside the chunk data
		return m
	}
	t.Run("header MAC", func(t *testing.T) {
		t.Parallel()
		a, b := newPair(t, V1, ChainParams{})
		b.recv(t, 0, a.send(t, 0))
		b.recv(t, 1, flip(a.send(t, 1)))
		_, _, err := Recv(b.state, a.send(t, 2).msg)
		if !errors.Is(err, ErrMACVerify) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("wrong authentication key", func(t *testing.T) {
		t.Parallel()
		a, _ := newPair(t, V1, ChainParams{})
		sb, _ := InitialState(Params{AuthKey: bytes.Repeat([]byte{42}, 32), Version: V1, MinVersion: V1, Direction: B2A})
		b := &party{name: "B", state: sb}
		var err error
		for i := range 3 {
			m := a.send(t, i)
			if b.state, _, err = Recv(b.state, m.msg); err != nil {
				break
			}
		}
		// The header's MAC fails once it is complete. (Before that, the
		// keys differ, which the caller's message MAC catches.)
		if !errors.Is(err, ErrMACVerify) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("encapsulation key", func(t *testing.T) {
		t.Parallel()
		a, b := newPair(t, V1, ChainParams{})
		deliverUntil(t, a, b, ct1Sampled)
		var err error
		for i := range 40 {
			m := a.send(t, i)
			if m.msg[len(m.msg)-33-1] != byte(msgEk) && m.msg[len(m.msg)-33-1] != byte(msgEkCt1Ack) {
				// Not an ek chunk (the chunk index is one byte here).
				b.recv(t, i, m)
				continue
			}
			if i == 3 {
				m = flip(m)
			}
			next, key, e := Recv(b.state, m.msg)
			if e != nil {
				err = e
				break
			}
			if !bytes.Equal(key, m.key) {
				t.Fatal("key mismatch")
			}
			b.state = next
			a.recv(t, i, b.send(t, i))
		}
		if !errors.Is(err, ErrErroneousData) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("ciphertext MAC", func(t *testing.T) {
		t.Parallel()
		a, b := newPair(t, V1, ChainParams{})
		deliverUntil(t, b, a, ekSentCt1Received)
		var err error
		for i := range 10 {
			m := flip(b.send(t, i))
			if a.state, _, err = Recv(a.state, m.msg); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrMACVerify) {
			t.Fatalf("%v", err)
		}
	})
}

// TestCorruptState: truncated or bit-flipped states give typed errors or
// (for flips that keep the state well-formed) carry on; nothing panics.
func TestCorruptState(t *testing.T) {
	t.Parallel()
	a, b := newPair(t, V1, ChainParams{})
	var states [][]byte
	for i := range 60 {
		m := a.send(t, i)
		b.recv(t, i, m)
		a.recv(t, i, b.send(t, i))
		if i%10 == 0 {
			states = append(states, a.state, b.state)
		}
	}
	msg := a.send(t, 99).msg
	try := func(s []byte) {
		if _, _, _, err := Send(s, rand.Reader); err != nil && !isTyped(err) {
			t.Fatalf("Send: untyped %v", err)
		}
		if _, _, err := Recv(s, msg); err != nil && !isTyped(err) {
			t.Fatalf("Recv: untyped %v", err)
		}
	}
	for _, s := range states {
		for n := 0; n < len(s); n += 29 {
			try(s[:n])
		}
		for i := 0; i < len(s); i += 41 {
			c := bytes.Clone(s)
			c[i] ^= 0x5a
			try(c)
		}
	}
	if _, _, _, err := Send([]byte{0xff, 0xff}, rand.Reader); !errors.Is(err, ErrStateDecode) {
		t.Fatalf("garbage state: %v", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestSendRandomFailure(t *testing.T) {
	t.Parallel()
	a, _ := newPair(t, V1, ChainParams{})
	if _, _, _, err := Send(a.state, failingReader{}); !errors.Is(err, ErrRandom) {
		t.Fatalf("%v", err)
	}
}
