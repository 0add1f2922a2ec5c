package spqr

import (
	"bytes"
	"errors"
	mrand "math/rand/v2"
	"testing"
)

// Unit tests of the key chain, after the reference's own (src/chain.rs).

func TestChainDirectionsMatch(t *testing.T) {
	t.Parallel()
	a2b := newChain([]byte("1"), A2B, chainParams{})
	b2a := newChain([]byte("1"), B2A, chainParams{})
	idx, k, err := a2b.sendKey(0)
	if err != nil || idx != 1 {
		t.Fatalf("first send key: %d %v", idx, err)
	}
	if got, err := b2a.recvKey(0, 1); err != nil || !bytes.Equal(got, k) {
		t.Fatalf("recv key differs: %v", err)
	}
	for _, c := range []*chain{a2b, b2a} {
		if err := c.addEpoch(1, []byte{2}); err != nil {
			t.Fatal(err)
		}
	}
	for range 9 {
		if _, _, err := a2b.sendKey(1); err != nil {
			t.Fatal(err)
		}
	}
	idx, k, _ = a2b.sendKey(1)
	if got, err := b2a.recvKey(1, 10); idx != 10 || err != nil || !bytes.Equal(got, k) {
		t.Fatalf("key 10 of epoch 1: %d %v", idx, err)
	}
	// The other direction of the same chains.
	_, k, _ = b2a.sendKey(1)
	if got, err := a2b.recvKey(1, 1); err != nil || !bytes.Equal(got, k) {
		t.Fatalf("B2A key differs: %v", err)
	}
	if err := a2b.addEpoch(3, []byte{3}); !errors.Is(err, ErrStateDecode) {
		t.Fatalf("skipping an epoch: %v", err)
	}
}

func TestChainKeyLimits(t *testing.T) {
	t.Parallel()
	c := newChain([]byte("1"), A2B, chainParams{})
	if _, err := c.recvKey(0, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.recvKey(0, 2); !errors.Is(err, ErrKeyAlreadyRequested) {
		t.Fatalf("second request: %v", err)
	}
	c = newChain([]byte("1"), A2B, chainParams{maxJump: 10, maxOOOKeys: 10})
	if _, err := c.recvKey(0, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := c.recvKey(0, 21); !errors.Is(err, ErrKeyJump) {
		t.Fatalf("jump of 11: %v", err)
	}
	if _, err := c.recvKey(0, 12); err != nil {
		t.Fatal(err)
	}
	if _, err := c.recvKey(0, 1); !errors.Is(err, ErrKeyTrimmed) {
		t.Fatalf("old key: %v", err)
	}
	if _, err := c.recvKey(1, 1); !errors.Is(err, ErrEpochOutOfRange) {
		t.Fatalf("future epoch: %v", err)
	}
}

func TestChainOutOfOrder(t *testing.T) {
	t.Parallel()
	a2b := newChain([]byte("1"), A2B, chainParams{})
	b2a := newChain([]byte("1"), B2A, chainParams{})
	type key struct {
		idx uint32
		k   []byte
	}
	keys := make([]key, defaultMaxOOOKeys)
	for i := range keys {
		idx, k, err := a2b.sendKey(0)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = key{idx, k}
	}
	r := mrand.New(mrand.NewPCG(1, 1))
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, k := range keys {
		if got, err := b2a.recvKey(0, k.idx); err != nil || !bytes.Equal(got, k.k) {
			t.Fatalf("key %d: %v", k.idx, err)
		}
	}
}

func TestChainOldSendEpochs(t *testing.T) {
	t.Parallel()
	c := newChain([]byte("1"), A2B, chainParams{})
	for range 2 {
		if _, _, err := c.sendKey(0); err != nil {
			t.Fatal(err)
		}
	}
	for e := uint64(1); e <= 3; e++ {
		if err := c.addEpoch(e, []byte{byte(e)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := c.sendKey(3); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.sendKey(0); !errors.Is(err, ErrSendKeyEpochDecreased) {
		t.Fatalf("%v", err)
	}
	// One epoch before the send epoch is kept, with its send key erased.
	if len(c.links) != 2 || c.links[0].send.next != nil || c.links[1].send.next == nil {
		t.Fatalf("links after moving to epoch 3: %d", len(c.links))
	}
	if _, err := c.recvKey(1, 1); !errors.Is(err, ErrEpochOutOfRange) {
		t.Fatalf("dropped epoch: %v", err)
	}
	if _, err := c.recvKey(2, 1); err != nil {
		t.Fatalf("kept epoch: %v", err)
	}
}
