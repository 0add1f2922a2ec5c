package signal

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protowire"
)

// Sender keys (groups) as libsignal's sender_keys.rs and group_cipher.rs:
// each sender has, per distribution (group), a hash chain of message keys
// and a signing key; the chain's start is sent to every member in a
// SenderKeyDistributionMessage over 1:1 sessions, and group messages are
// encrypted once, signed, and fanned out.

// SenderKeyMessage is a group message: version byte, the protobuf of
// wire.proto and an XEdDSA signature over both.
type SenderKeyMessage struct {
	Version        uint8
	DistributionID uuid.UUID
	ChainID        uint32
	Iteration      uint32
	Ciphertext     []byte

	serialized []byte
}

// Bytes returns the message as sent or received.
func (m *SenderKeyMessage) Bytes() []byte { return m.serialized }

// ParseSenderKeyMessage decodes a SenderKeyMessage. The signature is
// checked when decrypting.
func ParseSenderKeyMessage(b []byte) (*SenderKeyMessage, error) {
	if len(b) < 1+SignatureSize {
		return nil, fmt.Errorf("%w: sender key message of %d bytes", ErrInvalidMessage, len(b))
	}
	if v := b[0] >> 4; v != senderKeyVersion {
		return nil, fmt.Errorf("%w: sender key message version %d", ErrVersion, v)
	}
	m := &SenderKeyMessage{Version: senderKeyVersion, serialized: clone(b)}
	var dist []byte
	var haveChain, haveIter, haveCT bool
	err := decodeFields(m.serialized[1:len(m.serialized)-SignatureSize], func(f pbField) (protowire.Type, bool) {
		switch f.num {
		case 1:
			dist = f.b
			return bytesT, true
		case 2:
			m.ChainID, haveChain = uint32(f.v), true
			return varintT, true
		case 3:
			m.Iteration, haveIter = uint32(f.v), true
			return varintT, true
		case 4:
			m.Ciphertext, haveCT = f.b, f.typ == bytesT
			return bytesT, true
		}
		return 0, false
	})
	if err != nil {
		return nil, fmt.Errorf("%w: sender key message: %w", ErrInvalidMessage, err)
	}
	if len(dist) != 16 || !haveChain || !haveIter || !haveCT {
		return nil, fmt.Errorf("%w: sender key message lacks a required field", ErrInvalidMessage)
	}
	m.DistributionID = uuid.UUID(dist)
	return m, nil
}

func newSenderKeyMessage(version uint8, dist uuid.UUID, chainID, iteration uint32, ciphertext []byte, signer PrivateKey, rnd io.Reader) (*SenderKeyMessage, error) {
	b := make([]byte, 0, 1+30+len(ciphertext)+SignatureSize)
	b = append(b, (version&0xF)<<4|senderKeyVersion)
	b = appendBytesField(b, 1, dist[:])
	b = appendVarintField(b, 2, uint64(chainID))
	b = appendVarintField(b, 3, uint64(iteration))
	b = appendBytesField(b, 4, ciphertext)
	sig, err := signer.Sign(rnd, b)
	if err != nil {
		return nil, err
	}
	return &SenderKeyMessage{Version: senderKeyVersion, DistributionID: dist, ChainID: chainID, Iteration: iteration,
		Ciphertext: ciphertext, serialized: append(b, sig...)}, nil
}

func (m *SenderKeyMessage) verify(key PublicKey) bool {
	n := len(m.serialized) - SignatureSize
	return key.Verify(m.serialized[:n], m.serialized[n:])
}

// SenderKeyDistributionMessage hands a sender's chain for a distribution
// to a group member.
type SenderKeyDistributionMessage struct {
	Version        uint8
	DistributionID uuid.UUID
	ChainID        uint32
	Iteration      uint32
	ChainKey       []byte // 32 bytes; secret
	SigningKey     PublicKey

	serialized []byte
}

// Bytes returns the message as sent or received.
func (m *SenderKeyDistributionMessage) Bytes() []byte { return m.serialized }

// String describes the message without its chain key.
func (m *SenderKeyDistributionMessage) String() string {
	return fmt.Sprintf("SenderKeyDistributionMessage(%s, chain %d, iteration %d)", m.DistributionID, m.ChainID, m.Iteration)
}

// GoString describes the message without its chain key.
func (m *SenderKeyDistributionMessage) GoString() string { return m.String() }

// LogValue describes the message without its chain key.
func (m *SenderKeyDistributionMessage) LogValue() slog.Value { return slog.StringValue(m.String()) }

// ParseSenderKeyDistributionMessage decodes a SenderKeyDistributionMessage.
func ParseSenderKeyDistributionMessage(b []byte) (*SenderKeyDistributionMessage, error) {
	if len(b) < 1+32+32 {
		return nil, fmt.Errorf("%w: sender key distribution message of %d bytes", ErrInvalidMessage, len(b))
	}
	if v := b[0] >> 4; v != senderKeyVersion {
		return nil, fmt.Errorf("%w: sender key distribution message version %d", ErrVersion, v)
	}
	m := &SenderKeyDistributionMessage{Version: senderKeyVersion, serialized: clone(b)}
	var dist, signing []byte
	var haveChain, haveIter bool
	err := decodeFields(m.serialized[1:], func(f pbField) (protowire.Type, bool) {
		switch f.num {
		case 1:
			dist = f.b
			return bytesT, true
		case 2:
			m.ChainID, haveChain = uint32(f.v), true
			return varintT, true
		case 3:
			m.Iteration, haveIter = uint32(f.v), true
			return varintT, true
		case 4:
			m.ChainKey = f.b
			return bytesT, true
		case 5:
			signing = f.b
			return bytesT, true
		}
		return 0, false
	})
	if err != nil {
		return nil, fmt.Errorf("%w: sender key distribution message: %w", ErrInvalidMessage, err)
	}
	if len(dist) != 16 || !haveChain || !haveIter || len(m.ChainKey) != 32 || len(signing) != PublicKeySize {
		return nil, fmt.Errorf("%w: sender key distribution message lacks a required field", ErrInvalidMessage)
	}
	if m.SigningKey, err = ParsePublicKey(signing); err != nil {
		return nil, fmt.Errorf("%w: signing key: %w", ErrInvalidMessage, err)
	}
	m.DistributionID = uuid.UUID(dist)
	return m, nil
}

func newSenderKeyDistributionMessage(version uint8, dist uuid.UUID, chainID, iteration uint32, chainKey []byte, signing PublicKey) *SenderKeyDistributionMessage {
	var b []byte
	b = append(b, (version&0xF)<<4|senderKeyVersion)
	b = appendBytesField(b, 1, dist[:])
	b = appendVarintField(b, 2, uint64(chainID))
	b = appendVarintField(b, 3, uint64(iteration))
	b = appendBytesField(b, 4, chainKey)
	b = appendBytesField(b, 5, signing.Bytes())
	return &SenderKeyDistributionMessage{Version: senderKeyVersion, DistributionID: dist, ChainID: chainID, Iteration: iteration,
		ChainKey: clone(chainKey), SigningKey: signing, serialized: b}
}

// senderKeyState is SenderKeyStateStructure of storage.proto.
type senderKeyState struct {
	version        uint32
	chainID        uint32
	chainIteration uint32
	chainSeed      []byte
	hasChain       bool
	signingPublic  []byte
	signingPrivate []byte
	hasSigning     bool
	messageKeys    []senderMessageKeyPB // oldest first
}

type senderMessageKeyPB struct {
	iteration uint32
	seed      []byte
}

func (s *senderKeyState) messageVersion() uint32 {
	if s.version == 0 {
		return senderKeyVersion
	}
	return s.version
}

func (s *senderKeyState) clone() *senderKeyState {
	c := *s
	c.messageKeys = append([]senderMessageKeyPB(nil), s.messageKeys...)
	return &c
}

// senderChainStep returns the next chain seed and this step's message
// key seed.
func senderChainStep(seed []byte) (next, message []byte) {
	return hmacSHA256(seed, []byte{0x02}), hmacSHA256(seed, []byte{0x01})
}

// senderMessageKeys expands a message key seed into the IV and key.
func senderMessageKeys(seed []byte) (iv, key []byte) {
	okm := hkdfSHA256(seed, nil, "WhisperGroup", 48)
	return okm[:16], okm[16:]
}

// SenderKeyRecord holds a sender's chains for one distribution, newest
// first (up to MaxSenderKeyStates). Its serialized form is libsignal's
// SenderKeyRecordStructure. It never prints or logs its keys.
type SenderKeyRecord struct {
	states []*senderKeyState
}

// NewSenderKeyRecord returns an empty record.
func NewSenderKeyRecord() *SenderKeyRecord { return &SenderKeyRecord{} }

// String describes the record without its keys.
func (r *SenderKeyRecord) String() string {
	return fmt.Sprintf("SenderKeyRecord(%d states)", len(r.states))
}

// GoString describes the record without its keys.
func (r *SenderKeyRecord) GoString() string { return r.String() }

// LogValue describes the record without its keys.
func (r *SenderKeyRecord) LogValue() slog.Value { return slog.StringValue(r.String()) }

// Bytes serializes the record.
func (r *SenderKeyRecord) Bytes() []byte {
	var b []byte
	for _, s := range r.states {
		var sb []byte
		sb = appendVarint3(sb, 1, uint64(s.chainID))
		if s.hasChain {
			var cb []byte
			cb = appendVarint3(cb, 1, uint64(s.chainIteration))
			cb = appendBytes3(cb, 2, s.chainSeed)
			sb = appendBytesField(sb, 2, cb)
		}
		if s.hasSigning {
			var kb []byte
			kb = appendBytes3(kb, 1, s.signingPublic)
			kb = appendBytes3(kb, 2, s.signingPrivate)
			sb = appendBytesField(sb, 3, kb)
		}
		for _, m := range s.messageKeys {
			var mb []byte
			mb = appendVarint3(mb, 1, uint64(m.iteration))
			mb = appendBytes3(mb, 2, m.seed)
			sb = appendBytesField(sb, 4, mb)
		}
		sb = appendVarint3(sb, 5, uint64(s.version))
		b = appendBytesField(b, 1, sb)
	}
	return b
}

// ParseSenderKeyRecord decodes SenderKeyRecord.Bytes.
func ParseSenderKeyRecord(b []byte) (*SenderKeyRecord, error) {
	r := &SenderKeyRecord{}
	var inner error
	err := decodeFields(b, func(f pbField) (protowire.Type, bool) {
		if f.num == 1 && f.typ == bytesT && inner == nil {
			s := &senderKeyState{}
			inner = parseSenderKeyState(f.b, s)
			r.states = append(r.states, s)
		}
		return bytesT, f.num == 1
	})
	if err == nil {
		err = inner
	}
	if err != nil {
		return nil, fmt.Errorf("%w: sender key record: %w", ErrInvalidRecord, err)
	}
	return r, nil
}

func parseSenderKeyState(b []byte, s *senderKeyState) error {
	var inner error
	nested := func(b []byte, fn func(f pbField) (protowire.Type, bool)) {
		if err := decodeFields(b, fn); err != nil && inner == nil {
			inner = err
		}
	}
	err := decodeFields(b, func(g pbField) (protowire.Type, bool) {
		switch g.num {
		case 1:
			s.chainID = uint32(g.v)
			return varintT, true
		case 5:
			s.version = uint32(g.v)
			return varintT, true
		case 2:
			s.hasChain = true
			nested(g.b, func(h pbField) (protowire.Type, bool) {
				switch h.num {
				case 1:
					s.chainIteration = uint32(h.v)
					return varintT, true
				case 2:
					s.chainSeed = clone(h.b)
					return bytesT, true
				}
				return 0, false
			})
			return bytesT, true
		case 3:
			s.hasSigning = true
			nested(g.b, func(h pbField) (protowire.Type, bool) {
				switch h.num {
				case 1:
					s.signingPublic = clone(h.b)
				case 2:
					s.signingPrivate = clone(h.b)
				default:
					return 0, false
				}
				return bytesT, true
			})
			return bytesT, true
		case 4:
			var m senderMessageKeyPB
			nested(g.b, func(h pbField) (protowire.Type, bool) {
				switch h.num {
				case 1:
					m.iteration = uint32(h.v)
					return varintT, true
				case 2:
					m.seed = clone(h.b)
					return bytesT, true
				}
				return 0, false
			})
			s.messageKeys = append(s.messageKeys, m)
			return bytesT, true
		}
		return 0, false
	})
	if err == nil {
		err = inner
	}
	return err
}

func (r *SenderKeyRecord) stateForChain(chainID uint32) *senderKeyState {
	for _, s := range r.states {
		if s.chainID == chainID {
			return s
		}
	}
	return nil
}

// addState adds a chain as libsignal's add_sender_key_state: a state
// with the same chain id and signing key is kept as it is (moved to the
// front); other states with that chain id are dropped; the oldest go
// beyond MaxSenderKeyStates.
func (r *SenderKeyRecord) addState(version uint8, chainID, iteration uint32, seed []byte, signing PublicKey, private *PrivateKey) {
	var existing *senderKeyState
	kept := r.states[:0:0]
	for _, s := range r.states {
		if s.chainID != chainID {
			kept = append(kept, s)
			continue
		}
		if existing == nil {
			if pub, err := ParsePublicKey(s.signingPublic); err == nil && pub.Equal(signing) {
				existing = s
			}
		}
	}
	if existing == nil {
		existing = &senderKeyState{
			version: uint32(version), chainID: chainID,
			chainIteration: iteration, chainSeed: clone(seed), hasChain: true,
			signingPublic: signing.Bytes(), hasSigning: true,
		}
		if private != nil {
			existing.signingPrivate = private.Bytes()
		}
	}
	if len(kept) >= MaxSenderKeyStates {
		kept = kept[:MaxSenderKeyStates-1]
	}
	r.states = append([]*senderKeyState{existing}, kept...)
}

func (c *Cipher) senderKeyStore() (SenderKeyStore, error) {
	if c.cfg.SenderKeys == nil {
		return nil, fmt.Errorf("%w: no sender key store", ErrInvalidArgument)
	}
	return c.cfg.SenderKeys, nil
}

// CreateSenderKeyDistribution returns the local device's distribution
// message for distributionID, creating its chain on first use.
func (c *Cipher) CreateSenderKeyDistribution(ctx context.Context, distributionID uuid.UUID) (*SenderKeyDistributionMessage, error) {
	store, err := c.senderKeyStore()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, err := store.LoadSenderKey(ctx, c.local, distributionID)
	if err != nil {
		return nil, fmt.Errorf("signal: load sender key %s: %w", distributionID, err)
	}
	if rec == nil {
		var buf [4 + 32]byte
		if _, err := io.ReadFull(c.cfg.Rand, buf[:]); err != nil {
			return nil, fmt.Errorf("signal: sender key: %w", err)
		}
		signing, err := GenerateKeyPair(c.cfg.Rand)
		if err != nil {
			return nil, err
		}
		chainID := binary.LittleEndian.Uint32(buf[:4]) >> 1
		rec = NewSenderKeyRecord()
		rec.addState(senderKeyVersion, chainID, 0, buf[4:], signing.Public, &signing.Private)
		if err := store.StoreSenderKey(ctx, c.local, distributionID, rec); err != nil {
			return nil, fmt.Errorf("signal: store sender key %s: %w", distributionID, err)
		}
	}
	if len(rec.states) == 0 {
		return nil, fmt.Errorf("%w: empty sender key record", ErrInvalidRecord)
	}
	s := rec.states[0]
	signing, err := ParsePublicKey(s.signingPublic)
	if err != nil || !s.hasChain || s.messageVersion() > math.MaxUint8 {
		return nil, fmt.Errorf("%w: sender key state", ErrInvalidRecord)
	}
	return newSenderKeyDistributionMessage(uint8(s.messageVersion()), distributionID, s.chainID, s.chainIteration, s.chainSeed, signing), nil
}

// ProcessSenderKeyDistribution stores the chain a group member sent.
func (c *Cipher) ProcessSenderKeyDistribution(ctx context.Context, sender ProtocolAddress, m *SenderKeyDistributionMessage) error {
	if err := sender.Validate(); err != nil {
		return err
	}
	if m == nil {
		return fmt.Errorf("%w: nil distribution message", ErrInvalidArgument)
	}
	store, err := c.senderKeyStore()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, err := store.LoadSenderKey(ctx, sender, m.DistributionID)
	if err != nil {
		return fmt.Errorf("signal: load sender key %s: %w", m.DistributionID, err)
	}
	if rec == nil {
		rec = NewSenderKeyRecord()
	}
	rec.addState(m.Version, m.ChainID, m.Iteration, m.ChainKey, m.SigningKey, nil)
	if err := store.StoreSenderKey(ctx, sender, m.DistributionID, rec); err != nil {
		return fmt.Errorf("signal: store sender key %s: %w", m.DistributionID, err)
	}
	return nil
}

// GroupEncrypt encrypts plaintext with the local device's sender key for
// distributionID and returns the SenderKeyMessage (TypeSenderKey).
func (c *Cipher) GroupEncrypt(ctx context.Context, distributionID uuid.UUID, plaintext []byte) ([]byte, error) {
	store, err := c.senderKeyStore()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, err := store.LoadSenderKey(ctx, c.local, distributionID)
	if err != nil {
		return nil, fmt.Errorf("signal: load sender key %s: %w", distributionID, err)
	}
	if rec == nil || len(rec.states) == 0 {
		return nil, fmt.Errorf("%w for distribution %s", ErrNoSenderKey, distributionID)
	}
	s := rec.states[0]
	if !s.hasChain || len(s.chainSeed) != 32 || s.messageVersion() > math.MaxUint8 {
		return nil, fmt.Errorf("%w: sender key chain for %s", ErrInvalidRecord, distributionID)
	}
	signer, err := ParsePrivateKey(s.signingPrivate)
	if err != nil {
		return nil, fmt.Errorf("%w: sender signing key for %s: %w", ErrInvalidRecord, distributionID, err)
	}
	if s.chainIteration == math.MaxUint32 {
		return nil, fmt.Errorf("%w: sender chain for %s is exhausted", ErrInvalidRecord, distributionID)
	}
	next, seed := senderChainStep(s.chainSeed)
	iv, key := senderMessageKeys(seed)
	m, err := newSenderKeyMessage(uint8(s.messageVersion()), distributionID, s.chainID, s.chainIteration,
		aesCBCEncrypt(key, iv, plaintext), signer, c.cfg.Rand)
	if err != nil {
		return nil, err
	}
	s.chainSeed, s.chainIteration = next, s.chainIteration+1
	if err := store.StoreSenderKey(ctx, c.local, distributionID, rec); err != nil {
		return nil, fmt.Errorf("signal: store sender key %s: %w", distributionID, err)
	}
	return m.serialized, nil
}

// GroupDecrypt decrypts a SenderKeyMessage from sender.
func (c *Cipher) GroupDecrypt(ctx context.Context, sender ProtocolAddress, message []byte) ([]byte, error) {
	if err := sender.Validate(); err != nil {
		return nil, err
	}
	m, err := ParseSenderKeyMessage(message)
	if err != nil {
		return nil, err
	}
	store, err := c.senderKeyStore()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, err := store.LoadSenderKey(ctx, sender, m.DistributionID)
	if err != nil {
		return nil, fmt.Errorf("signal: load sender key %s: %w", m.DistributionID, err)
	}
	if rec == nil {
		return nil, fmt.Errorf("%w from %s for distribution %s", ErrNoSenderKey, sender, m.DistributionID)
	}
	orig := rec.stateForChain(m.ChainID)
	if orig == nil {
		return nil, fmt.Errorf("%w from %s for distribution %s, chain %d", ErrNoSenderKey, sender, m.DistributionID, m.ChainID)
	}
	if uint32(m.Version) != orig.messageVersion() {
		return nil, fmt.Errorf("%w: sender key message version %d", ErrVersion, m.Version)
	}
	signing, err := ParsePublicKey(orig.signingPublic)
	if err != nil {
		return nil, fmt.Errorf("%w: sender signing key: %w", ErrInvalidRecord, err)
	}
	if !m.verify(signing) {
		return nil, fmt.Errorf("%w: sender key message from %s", ErrInvalidSignature, sender)
	}
	s := orig.clone()
	seed, err := senderMessageSeed(s, m.Iteration)
	if err != nil {
		return nil, err
	}
	iv, key := senderMessageKeys(seed)
	pt, err := aesCBCDecrypt(key, iv, m.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: sender key message: %w", ErrInvalidMessage, err)
	}
	*orig = *s
	if err := store.StoreSenderKey(ctx, sender, m.DistributionID, rec); err != nil {
		return nil, fmt.Errorf("signal: store sender key %s: %w", m.DistributionID, err)
	}
	return pt, nil
}

// senderMessageSeed consumes the message key seed of iteration: a kept
// one from the past, or the chain advanced (keeping what it skips).
func senderMessageSeed(s *senderKeyState, iteration uint32) ([]byte, error) {
	if !s.hasChain || len(s.chainSeed) != 32 {
		return nil, fmt.Errorf("%w: sender key chain", ErrInvalidRecord)
	}
	if s.chainIteration > iteration {
		for i, k := range s.messageKeys {
			if k.iteration == iteration {
				s.messageKeys = append(s.messageKeys[:i:i], s.messageKeys[i+1:]...)
				return k.seed, nil
			}
		}
		return nil, fmt.Errorf("%w: iteration %d, chain at %d", ErrDuplicateMessage, iteration, s.chainIteration)
	}
	if iteration-s.chainIteration > MaxForwardJumps {
		return nil, fmt.Errorf("%w: iteration %d, chain at %d", ErrTooFarAhead, iteration, s.chainIteration)
	}
	seed, it := s.chainSeed, s.chainIteration
	for it < iteration {
		next, msg := senderChainStep(seed)
		s.messageKeys = append(s.messageKeys, senderMessageKeyPB{iteration: it, seed: msg})
		seed, it = next, it+1
	}
	if n := len(s.messageKeys); n > MaxMessageKeys {
		s.messageKeys = append([]senderMessageKeyPB(nil), s.messageKeys[n-MaxMessageKeys:]...)
	}
	if it == math.MaxUint32 {
		return nil, fmt.Errorf("%w: sender chain is exhausted", ErrInvalidMessage)
	}
	next, msg := senderChainStep(seed)
	s.chainSeed, s.chainIteration = next, it+1
	return msg, nil
}
