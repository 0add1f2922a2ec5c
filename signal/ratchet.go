package signal

import (
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"math"

	"github.com/hushmsg/hush/signal/spqr"
)

// The key schedule of the Double Ratchet as libsignal's ratchet/keys.rs,
// with the SPQR ("triple ratchet") key as the salt of the message keys.

// rootKey is a ratchet root key.
type rootKey [32]byte

// chainKey is a sending or receiving chain key with its index.
type chainKey struct {
	key   [32]byte
	index uint32
}

// messageKeys encrypt and authenticate one message.
type messageKeys struct {
	cipherKey [32]byte
	macKey    [32]byte
	iv        [16]byte
	counter   uint32
}

func (rootKey) String() string           { return "rootKey(REDACTED)" }
func (rootKey) LogValue() slog.Value     { return slog.StringValue("REDACTED") }
func (chainKey) String() string          { return "chainKey(REDACTED)" }
func (chainKey) LogValue() slog.Value    { return slog.StringValue("REDACTED") }
func (messageKeys) String() string       { return "messageKeys(REDACTED)" }
func (messageKeys) LogValue() slog.Value { return slog.StringValue("REDACTED") }
func (*messageKeys) GoString() string    { return "messageKeys(REDACTED)" }
func (*chainKey) GoString() string       { return "chainKey(REDACTED)" }
func (*rootKey) GoString() string        { return "rootKey(REDACTED)" }

// createChain performs one DH ratchet step: the new root key and a new
// chain key from DH(ours, theirs).
func (rk rootKey) createChain(theirs PublicKey, ours PrivateKey) (rootKey, chainKey, error) {
	shared, err := ours.Agree(theirs)
	if err != nil {
		return rootKey{}, chainKey{}, err
	}
	okm := hkdfSHA256(shared, rk[:], "WhisperRatchet", 64)
	var nr rootKey
	var ck chainKey
	copy(nr[:], okm[:32])
	copy(ck.key[:], okm[32:])
	return nr, ck, nil
}

func (ck chainKey) next() chainKey {
	n := chainKey{index: ck.index + 1}
	copy(n.key[:], hmacSHA256(ck.key[:], []byte{0x02}))
	return n
}

// messageSeed is the input key material of the message keys at index.
func (ck chainKey) messageSeed() []byte {
	return hmacSHA256(ck.key[:], []byte{0x01})
}

// deriveMessageKeys expands a message seed, salted with the SPQR key
// when there is one.
func deriveMessageKeys(seed, pqKey []byte, counter uint32) messageKeys {
	okm := hkdfSHA256(seed, pqKey, "WhisperMessageKeys", 80)
	var mk messageKeys
	copy(mk.cipherKey[:], okm[:32])
	copy(mk.macKey[:], okm[32:64])
	copy(mk.iv[:], okm[64:])
	mk.counter = counter
	return mk
}

func chainKeyFromPB(pb *chainKeyPB) (chainKey, error) {
	if pb == nil {
		return chainKey{}, fmt.Errorf("%w: missing chain key", ErrInvalidRecord)
	}
	if len(pb.key) != 32 {
		return chainKey{}, fmt.Errorf("%w: chain key of %d bytes", ErrInvalidRecord, len(pb.key))
	}
	ck := chainKey{index: pb.index}
	copy(ck.key[:], pb.key)
	return ck, nil
}

func (ck chainKey) pb() *chainKeyPB {
	return &chainKeyPB{index: ck.index, key: append([]byte(nil), ck.key[:]...)}
}

// messageKeysFromPB restores a skipped message key: from its seed in
// current sessions, or as stored keys from old ones (which cannot take
// an SPQR key).
func messageKeysFromPB(m *messageKeyPB, pqKey []byte) (messageKeys, error) {
	if len(m.seed) > 0 {
		return deriveMessageKeys(m.seed, pqKey, m.index), nil
	}
	if len(pqKey) > 0 {
		return messageKeys{}, fmt.Errorf("%w: stored message keys in a session with a PQ ratchet", ErrInvalidRecord)
	}
	if len(m.cipherKey) != 32 || len(m.macKey) != 32 || len(m.iv) != 16 {
		return messageKeys{}, fmt.Errorf("%w: stored message keys of the wrong length", ErrInvalidRecord)
	}
	mk := messageKeys{counter: m.index}
	copy(mk.cipherKey[:], m.cipherKey)
	copy(mk.macKey[:], m.macKey)
	copy(mk.iv[:], m.iv)
	return mk, nil
}

// ratchet is the decrypting side of a session state, worked on a copy:
// the caller commits it only when the message decrypted.
type ratchet struct {
	s               *sessionState
	maxForwardJumps uint64
}

func (r *ratchet) findReceiverChain(theirs PublicKey) int {
	for i, c := range r.s.receiverChains {
		k, err := ParsePublicKey(c.ratchetKey)
		if err == nil && k.Equal(theirs) {
			return i
		}
	}
	return -1
}

// receiverChainKey returns the chain key for their ratchet key, stepping
// the DH ratchet when the key is new.
func (r *ratchet) receiverChainKey(theirs PublicKey, rnd io.Reader) (chainKey, error) {
	if i := r.findReceiverChain(theirs); i >= 0 {
		return chainKeyFromPB(r.s.receiverChains[i].chainKey)
	}
	sc := r.s.senderChain
	if sc == nil {
		return chainKey{}, fmt.Errorf("%w: missing sender chain", ErrInvalidRecord)
	}
	ourPriv, err := ParsePrivateKey(sc.ratchetPrivate)
	if err != nil {
		return chainKey{}, fmt.Errorf("%w: sender ratchet private key: %w", ErrInvalidRecord, err)
	}
	senderCK, err := chainKeyFromPB(sc.chainKey)
	if err != nil {
		return chainKey{}, err
	}
	if len(r.s.rootKey) != 32 {
		return chainKey{}, fmt.Errorf("%w: root key of %d bytes", ErrInvalidRecord, len(r.s.rootKey))
	}
	rk := rootKey(r.s.rootKey)
	rk2, recvCK, err := rk.createChain(theirs, ourPriv)
	if err != nil {
		return chainKey{}, fmt.Errorf("%w: ratchet key: %w", ErrInvalidMessage, err)
	}
	newSender, err := GenerateKeyPair(rnd)
	if err != nil {
		return chainKey{}, err
	}
	rk3, sendCK, err := rk2.createChain(theirs, newSender.Private)
	if err != nil {
		return chainKey{}, fmt.Errorf("%w: ratchet key: %w", ErrInvalidMessage, err)
	}
	if senderCK.index > 0 {
		r.s.previousCounter = senderCK.index - 1
	} else {
		r.s.previousCounter = 0
	}
	r.s.rootKey = append([]byte(nil), rk3[:]...)
	r.s.receiverChains = append(r.s.receiverChains, &chainPB{ratchetKey: theirs.Bytes(), chainKey: recvCK.pb()})
	if n := len(r.s.receiverChains); n > MaxReceiverChains {
		r.s.receiverChains = append([]*chainPB(nil), r.s.receiverChains[n-MaxReceiverChains:]...)
	}
	r.s.senderChain = &chainPB{
		ratchetKey:     newSender.Public.Bytes(),
		ratchetPrivate: newSender.Private.Bytes(),
		chainKey:       sendCK.pb(),
	}
	return recvCK, nil
}

// messageKeyFor consumes the message key of counter on their chain: a
// skipped key from the past, or the chain advanced (keeping the keys it
// skips) up to maxForwardJumps ahead.
func (r *ratchet) messageKeyFor(theirs PublicKey, ck chainKey, counter uint32) (*messageKeyPB, error) {
	i := r.findReceiverChain(theirs)
	if ck.index > counter {
		if i >= 0 {
			keys := r.s.receiverChains[i].messageKeys
			for j, m := range keys {
				if m.index == counter {
					r.s.receiverChains[i].messageKeys = append(keys[:j:j], keys[j+1:]...)
					return m, nil
				}
			}
		}
		return nil, fmt.Errorf("%w: counter %d, chain at %d", ErrDuplicateMessage, counter, ck.index)
	}
	if uint64(counter-ck.index) > r.maxForwardJumps {
		return nil, fmt.Errorf("%w: counter %d, chain at %d", ErrTooFarAhead, counter, ck.index)
	}
	if i < 0 {
		return nil, fmt.Errorf("%w: no receiving chain", ErrInvalidRecord)
	}
	chain := r.s.receiverChains[i]
	if skip := int(counter - ck.index); skip > 0 {
		// Skipped keys go in front, newest first; the oldest fall off.
		keep := min(skip, MaxMessageKeys)
		fresh := make([]*messageKeyPB, 0, keep+len(chain.messageKeys))
		for ck.index < counter {
			if counter-ck.index <= uint32(keep) {
				fresh = append(fresh, &messageKeyPB{index: ck.index, seed: ck.messageSeed()})
			}
			ck = ck.next()
		}
		for a, b := 0, len(fresh)-1; a < b; a, b = a+1, b-1 {
			fresh[a], fresh[b] = fresh[b], fresh[a]
		}
		fresh = append(fresh, chain.messageKeys...)
		if len(fresh) > MaxMessageKeys {
			fresh = fresh[:MaxMessageKeys]
		}
		chain.messageKeys = fresh
	}
	chain.chainKey = ck.next().pb()
	return &messageKeyPB{index: counter, seed: ck.messageSeed()}, nil
}

func constantTimeEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// chainParams are the SPQR chain limits libsignal uses.
func chainParams(selfSession bool) spqr.ChainParams {
	p := spqr.ChainParams{MaxJump: MaxForwardJumps, MaxOOOKeys: MaxMessageKeys}
	if selfSession {
		p.MaxJump = math.MaxUint32
	}
	return p
}
