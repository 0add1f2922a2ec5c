package spqr

import (
	"bytes"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"testing"
)

// Go-to-Go conversations: whatever the interleaving, loss and reordering
// (within the chain's limits), both sides derive the same key for every
// message.

var testAuthKey = bytes.Repeat([]byte{41}, 32)

// party is one side of a conversation.
type party struct {
	name  string
	state []byte
}

func newPair(t testing.TB, minVersion Version, cp ChainParams) (a, b *party) {
	t.Helper()
	p := Params{AuthKey: testAuthKey, Version: V1, MinVersion: minVersion, ChainParams: cp}
	p.Direction = A2B
	sa, err := InitialState(p)
	if err != nil {
		t.Fatal(err)
	}
	p.Direction = B2A
	sb, err := InitialState(p)
	if err != nil {
		t.Fatal(err)
	}
	return &party{name: "A", state: sa}, &party{name: "B", state: sb}
}

// sent is a message in flight with the key its sender used.
type sent struct {
	from   *party
	msg    []byte
	key    []byte
	sentAt int
}

func (p *party) send(t testing.TB, step int) sent {
	t.Helper()
	next, msg, key, err := Send(p.state, rand.Reader)
	if err != nil {
		t.Fatalf("step %d: %s send: %v", step, p.name, err)
	}
	p.state = next
	return sent{from: p, msg: msg, key: key, sentAt: step}
}

func (p *party) recv(t testing.TB, step int, m sent) {
	t.Helper()
	next, key, err := Recv(p.state, m.msg)
	if err != nil {
		t.Fatalf("step %d: %s recv of a message sent at %d: %v", step, p.name, m.sentAt, err)
	}
	if !bytes.Equal(key, m.key) {
		t.Fatalf("step %d: %s derived %x, sender used %x", step, p.name, key, m.key)
	}
	p.state = next
}

func epochOf(t testing.TB, state []byte) uint64 {
	t.Helper()
	s, err := decodeState(state)
	if err != nil || s.v1 == nil {
		t.Fatalf("decode: %v", err)
	}
	return s.v1.epoch
}

// TestConversationRandom runs random conversations: each step one side
// sends, or a message in flight (any of them) is delivered, or dropped.
// No message stays in flight longer than maxDelay steps.
func TestConversationRandom(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		seed      uint64
		steps     int
		drop      float64
		maxDelay  int
		minEpochs uint64
		minVer    Version
	}{
		{"in order, no loss", 1, 3000, 0, 1, 18, V1},
		{"reordered", 2, 3000, 0, 12, 15, V1},
		{"reordered and lossy", 3, 3000, 0.2, 12, 10, V1},
		{"very lossy", 4, 3000, 0.5, 4, 5, V1},
		{"minimum version 0", 5, 2000, 0.1, 8, 5, V0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := mrand.New(mrand.NewPCG(tc.seed, tc.seed))
			a, b := newPair(t, tc.minVer, ChainParams{})
			other := map[*party]*party{a: b, b: a}
			var inflight []sent
			keys := 0
			for step := range tc.steps {
				// Deliver or drop what has waited too long.
				for i := 0; i < len(inflight); {
					if step-inflight[i].sentAt < tc.maxDelay {
						i++
						continue
					}
					m := inflight[i]
					inflight = append(inflight[:i], inflight[i+1:]...)
					if r.Float64() >= tc.drop {
						other[m.from].recv(t, step, m)
					}
				}
				switch x := r.IntN(10); {
				case x < 4:
					// Bursts: the same side often sends several in a row.
					p := a
					if r.IntN(2) == 1 {
						p = b
					}
					for range 1 + r.IntN(3) {
						m := p.send(t, step)
						if m.key != nil {
							keys++
						}
						inflight = append(inflight, m)
					}
				case len(inflight) > 0:
					i := r.IntN(len(inflight))
					m := inflight[i]
					inflight = append(inflight[:i], inflight[i+1:]...)
					if r.Float64() >= tc.drop {
						other[m.from].recv(t, step, m)
					}
				}
			}
			ea, eb := epochOf(t, a.state), epochOf(t, b.state)
			if min(ea, eb) < tc.minEpochs {
				t.Fatalf("only reached epochs %d/%d", ea, eb)
			}
			if keys == 0 {
				t.Fatal("no keys derived")
			}
			t.Logf("epochs %d/%d, %d keys, state sizes %d/%d", ea, eb, keys, len(a.state), len(b.state))
		})
	}
}

// TestConversationLockstepManyEpochs: strict alternation through many
// epochs; every message has a key from the first one on.
func TestConversationLockstepManyEpochs(t *testing.T) {
	t.Parallel()
	a, b := newPair(t, V1, ChainParams{})
	for step := range 2000 {
		for _, p := range []*party{a, b} {
			m := p.send(t, step)
			if m.key == nil {
				t.Fatalf("step %d: no key", step)
			}
			map[*party]*party{a: b, b: a}[p].recv(t, step, m)
		}
	}
	if e := epochOf(t, a.state); e < 40 {
		t.Fatalf("epoch %d after 2000 rounds", e)
	}
}

// TestConversationMinVersion0 follows the reference: with minimum version
// 0 a side sends without keys until it has heard from the peer; with
// minimum version 1 it has keys from the first message.
func TestConversationMinVersion0(t *testing.T) {
	t.Parallel()
	a, b := newPair(t, V0, ChainParams{})
	m := a.send(t, 0)
	if m.key != nil {
		t.Fatal("key before negotiation")
	}
	b.recv(t, 0, m)
	m = b.send(t, 1)
	if m.key == nil {
		t.Fatal("no key after receiving")
	}
	a.recv(t, 1, m)
}

// TestNegotiation: a V1 side talking to a V0 side goes down to V0 when its
// minimum allows it and refuses otherwise; a message of a higher version
// than ours is ignored.
func TestNegotiation(t *testing.T) {
	t.Parallel()
	v1 := func(dir Direction, minVer Version) []byte {
		s, err := InitialState(Params{AuthKey: testAuthKey, Version: V1, MinVersion: minVer, Direction: dir})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	v0, err := InitialState(Params{AuthKey: testAuthKey, Version: V0, Direction: B2A})
	if err != nil || len(v0) != 0 {
		t.Fatalf("V0 state %x, %v", v0, err)
	}
	// The V0 side sends nothing.
	next, msg, key, err := Send(v0, rand.Reader)
	if err != nil || next != nil || msg != nil || key != nil {
		t.Fatalf("V0 send: %x %x %x %v", next, msg, key, err)
	}
	// The V1 side with minimum 0 negotiates down: its state becomes V0.
	next, key, err = Recv(v1(A2B, V0), nil)
	if err != nil || next != nil || key != nil {
		t.Fatalf("negotiate down: %x %x %v", next, key, err)
	}
	// With minimum 1 it refuses.
	if _, _, err := Recv(v1(A2B, V1), nil); !errors.Is(err, ErrMinimumVersion) {
		t.Fatalf("minimum version: %v", err)
	}
	// Once negotiation is over (after a receive), a lower version is a mismatch.
	a, b := newPair(t, V0, ChainParams{})
	b.recv(t, 0, a.send(t, 0))
	if _, _, err := Recv(b.state, nil); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("after negotiation: %v", err)
	}
	// A higher version is ignored: the state comes back unchanged.
	st := v1(B2A, V1)
	next, key, err = Recv(st, []byte{2, 1, 2, 3})
	if err != nil || !bytes.Equal(next, st) || key != nil {
		t.Fatalf("higher version: %v", err)
	}
	// The V0 side ignores V1 messages.
	m := a.send(t, 1)
	if next, key, err := Recv(v0, m.msg); err != nil || next != nil || key != nil {
		t.Fatalf("V0 recv of V1: %v", err)
	}
}

func TestInitialStateParams(t *testing.T) {
	t.Parallel()
	for _, p := range []Params{
		{Version: 2},
		{Version: V1, MinVersion: 3},
		{Version: V1, Direction: 2},
	} {
		if _, err := InitialState(p); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%+v: %v", p, err)
		}
	}
	// Default chain params are stored as zero, others as given.
	s, err := InitialState(Params{AuthKey: testAuthKey, Version: V1, MinVersion: V1,
		ChainParams: ChainParams{MaxJump: defaultMaxJump, MaxOOOKeys: 7}})
	if err != nil {
		t.Fatal(err)
	}
	vn := mustDecode(t, s).vn
	if vn.params.maxJump != 0 || vn.params.maxOOOKeys != 7 {
		t.Fatalf("stored params %+v", *vn.params)
	}
}

// TestStateRoundTrip: every state of a conversation decodes and encodes
// back to the same bytes.
func TestStateRoundTrip(t *testing.T) {
	t.Parallel()
	a, b := newPair(t, V1, ChainParams{})
	kinds := map[stateKind]bool{}
	check := func(s []byte) {
		d := mustDecode(t, s)
		kinds[d.v1.kind] = true
		if got := d.marshal(); !bytes.Equal(got, s) {
			t.Fatalf("%v: %s", d.v1.kind, firstDiff(got, s))
		}
	}
	r := mrand.New(mrand.NewPCG(9, 9))
	for step := range 400 {
		p, q := a, b
		if r.IntN(2) == 1 {
			p, q = b, a
		}
		m := p.send(t, step)
		check(p.state)
		if r.IntN(4) != 0 {
			q.recv(t, step, m)
			check(q.state)
		}
	}
	if len(kinds) < 10 {
		t.Fatalf("only %d state kinds seen", len(kinds))
	}
}

// TestInputsUntouched: Send and Recv never write into the state or message
// they are given (the caller keeps the old state when a message fails).
func TestInputsUntouched(t *testing.T) {
	t.Parallel()
	a, b := newPair(t, V1, ChainParams{MaxOOOKeys: 3})
	r := mrand.New(mrand.NewPCG(11, 11))
	var late []sent
	for step := range 300 {
		p, q := a, b
		if r.IntN(2) == 1 {
			p, q = b, a
		}
		orig, before := p.state, bytes.Clone(p.state)
		m := p.send(t, step)
		if !bytes.Equal(orig, before) {
			t.Fatal("Send changed its input")
		}
		if r.IntN(5) == 0 {
			late = append(late, m) // delivered much later, some too late
			continue
		}
		stateBefore, msgBefore := bytes.Clone(q.state), bytes.Clone(m.msg)
		orig = q.state
		q.recv(t, step, m)
		if !bytes.Equal(orig, stateBefore) || !bytes.Equal(m.msg, msgBefore) {
			t.Fatal("Recv changed its input")
		}
	}
	for _, m := range late {
		q := map[*party]*party{a: b, b: a}[m.from]
		orig, before := q.state, bytes.Clone(q.state)
		next, _, err := Recv(q.state, m.msg)
		if !bytes.Equal(orig, before) {
			t.Fatal("Recv changed its input")
		}
		if err == nil {
			q.state = next
		} else if !isTyped(err) {
			t.Fatal(err)
		}
	}
}

// TestKeyBeforeCt1Ack walks the phase the official vectors cannot replay
// (an encapsulation state of libcrux without its header): the key vector
// arrives in full before the acknowledgement of ct1, as in the vectors'
// schedule, and the acknowledgement then finishes the encapsulation.
func TestKeyBeforeCt1Ack(t *testing.T) {
	t.Parallel()
	a, b := newPair(t, V1, ChainParams{})
	step := 0
	deliver := func(from, to *party, n int) {
		for range n {
			to.recv(t, step, from.send(t, step))
			step++
		}
	}
	deliver(a, b, 3)
	deliver(b, a, 1)
	deliver(a, b, 40)
	if k := mustDecode(t, b.state).v1.kind; k != ekReceivedCt1Sampled {
		t.Fatalf("B in %v", k)
	}
	deliver(b, a, 29)
	deliver(a, b, 1)
	if k := mustDecode(t, b.state).v1.kind; k != ct2Sampled {
		t.Fatalf("B in %v after the acknowledgement", k)
	}
	deliver(b, a, 5)
	if s := mustDecode(t, a.state); s.v1.kind != noHeaderReceived || s.v1.epoch != 2 || s.chain.currentEpoch != 1 {
		t.Fatalf("A in %v epoch %d", s.v1.kind, s.v1.epoch)
	}
}
