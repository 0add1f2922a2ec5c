package spqr

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// The key chain (the reference's src/chain.rs). Each epoch secret that the
// braid agrees on starts a new pair of symmetric chains (one per direction)
// through a root KDF; each message takes the next key of its epoch's chain.
// A receiver may skip ahead at most MaxJump keys and keeps the skipped ones
// (at least MaxOOOKeys back) for late messages.

// Reference defaults, used where ChainParams holds zero.
const (
	defaultMaxJump    = 25_000
	defaultMaxOOOKeys = 2_000
)

// epochsKeptBeforeSend is how many epochs before the current send epoch
// are kept (for late messages from the peer).
const epochsKeptBeforeSend = 1

const historyEntry = 4 + 32 // BE32 index || key

type chainParams struct{ maxJump, maxOOOKeys uint32 } // as stored: zero means default

func (p chainParams) jump() uint64 {
	if p.maxJump > 0 {
		return uint64(p.maxJump)
	}
	return defaultMaxJump
}

func (p chainParams) ooo() uint64 {
	if p.maxOOOKeys > 0 {
		return uint64(p.maxOOOKeys)
	}
	return defaultMaxOOOKeys
}

// trimSize is the history length (in keys) that triggers trimming.
func (p chainParams) trimSize() uint64 { return p.ooo()*11/10 + 1 }

// chainDir is one direction of one epoch: a counter, the next chain key
// (empty once no longer needed) and the history of skipped keys.
type chainDir struct {
	ctr  uint32
	next []byte
	prev []byte // entries of historyEntry bytes
}

type chainEpoch struct{ send, recv chainDir }

type chain struct {
	dir          Direction
	currentEpoch uint64
	sendEpoch    uint64
	links        []chainEpoch // links[len-1] is currentEpoch
	nextRoot     []byte
	params       chainParams
}

func newChain(initialKey []byte, dir Direction, params chainParams) *chain {
	c := &chain{dir: dir, params: params}
	c.push(kdf(zeroSalt, initialKey, labelChainStart, 96))
	return c
}

// push starts a new epoch from 96 bytes of KDF output:
// next root || A2B chain key || B2A chain key.
func (c *chain) push(out []byte) {
	a2b, b2a := out[32:64], out[64:96]
	send, recv := a2b, b2a
	if c.dir == B2A {
		send, recv = b2a, a2b
	}
	c.nextRoot = out[:32]
	c.links = append(c.links, chainEpoch{
		send: chainDir{next: bytes.Clone(send)},
		recv: chainDir{next: bytes.Clone(recv)},
	})
}

func (c *chain) addEpoch(epoch uint64, secret []byte) error {
	if c.currentEpoch == math.MaxUint64 || epoch != c.currentEpoch+1 {
		return fmt.Errorf("%w: new epoch %d after %d", ErrStateDecode, epoch, c.currentEpoch)
	}
	c.push(kdf(c.nextRoot, secret, labelChainAdd, 96))
	c.currentEpoch = epoch
	return nil
}

func (c *chain) epochIndex(epoch uint64) (int, error) {
	if epoch > c.currentEpoch {
		return 0, fmt.Errorf("%w: %d", ErrEpochOutOfRange, epoch)
	}
	back := c.currentEpoch - epoch
	if back >= uint64(len(c.links)) {
		return 0, fmt.Errorf("%w: %d", ErrEpochOutOfRange, epoch)
	}
	return len(c.links) - 1 - int(back), nil
}

// sendKey returns the index and key of the next message sent in epoch.
func (c *chain) sendKey(epoch uint64) (uint32, []byte, error) {
	if epoch < c.sendEpoch {
		return 0, nil, fmt.Errorf("%w: %d after %d", ErrSendKeyEpochDecreased, epoch, c.sendEpoch)
	}
	i, err := c.epochIndex(epoch)
	if err != nil {
		return 0, nil, err
	}
	if c.sendEpoch != epoch {
		c.sendEpoch = epoch
		for i > epochsKeptBeforeSend {
			c.links = c.links[1:]
			i--
		}
		for j := range i {
			c.links[j].send.next = nil
		}
	}
	return c.links[i].send.nextKey()
}

// recvKey returns the key of message index in epoch.
func (c *chain) recvKey(epoch uint64, index uint32) ([]byte, error) {
	i, err := c.epochIndex(epoch)
	if err != nil {
		return nil, err
	}
	return c.links[i].recv.key(index, c.params)
}

func (d *chainDir) step() (uint32, []byte, error) {
	if len(d.next) != 32 || d.ctr == math.MaxUint32 {
		return 0, nil, fmt.Errorf("%w: exhausted chain", ErrStateDecode)
	}
	d.ctr++
	info := string(binary.BigEndian.AppendUint32(nil, d.ctr)) + labelChainNext
	out := kdf(zeroSalt, d.next, info, 64)
	d.next = out[:32]
	return d.ctr, out[32:], nil
}

func (d *chainDir) nextKey() (uint32, []byte, error) { return d.step() }

func (d *chainDir) key(at uint32, p chainParams) ([]byte, error) {
	switch {
	case at < d.ctr:
		return d.fromHistory(at, p)
	case at == d.ctr:
		return nil, fmt.Errorf("%w: %d", ErrKeyAlreadyRequested, at)
	case uint64(at-d.ctr) > p.jump():
		return nil, fmt.Errorf("%w: from %d to %d", ErrKeyJump, d.ctr, at)
	}
	if uint64(at) > uint64(d.ctr)+p.ooo() {
		// Every key held would be too old: drop them all.
		d.prev = d.prev[:0]
	}
	for at > d.ctr+1 {
		idx, k, err := d.step()
		if err != nil {
			return nil, err
		}
		// Keep only keys that would not be trimmed at once.
		if uint64(idx)+p.ooo() >= uint64(at) {
			d.prev = binary.BigEndian.AppendUint32(d.prev, idx)
			d.prev = append(d.prev, k...)
		}
	}
	d.trim(p)
	_, k, err := d.step()
	return k, err
}

// trim drops the keys more than MaxOOOKeys behind once the history has
// grown past trimSize, moving the last entry into each hole as the
// reference does (the order of the serialized history depends on it).
func (d *chainDir) trim(p chainParams) {
	if uint64(len(d.prev)) < p.trimSize()*historyEntry {
		return
	}
	if uint64(d.ctr) < p.ooo() {
		return
	}
	horizon := uint32(uint64(d.ctr) - p.ooo())
	for i := 0; i+historyEntry <= len(d.prev); {
		if binary.BigEndian.Uint32(d.prev[i:]) < horizon {
			d.removeAt(i)
		} else {
			i += historyEntry
		}
	}
}

func (d *chainDir) removeAt(i int) {
	last := len(d.prev) - historyEntry
	if i < last {
		copy(d.prev[i:i+historyEntry], d.prev[last:])
	}
	d.prev = d.prev[:last]
}

func (d *chainDir) fromHistory(at uint32, p chainParams) ([]byte, error) {
	if uint64(at)+p.ooo() < uint64(d.ctr) {
		return nil, fmt.Errorf("%w: %d", ErrKeyTrimmed, at)
	}
	for i := 0; i+historyEntry <= len(d.prev); i += historyEntry {
		if binary.BigEndian.Uint32(d.prev[i:]) == at {
			k := bytes.Clone(d.prev[i+4 : i+historyEntry])
			d.removeAt(i)
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: %d", ErrKeyAlreadyRequested, at)
}
