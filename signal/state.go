package signal

import (
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Limits, as libsignal's consts.rs.
const (
	// MaxForwardJumps is how many messages a receiving chain may skip at
	// once (sessions with oneself are not limited).
	MaxForwardJumps = 25_000
	// MaxMessageKeys is how many skipped message keys a chain keeps for
	// late messages; the oldest are dropped first.
	MaxMessageKeys = 2000
	// MaxReceiverChains is how many receiving chains a session keeps.
	MaxReceiverChains = 5
	// ArchivedStatesMax is how many previous sessions a record keeps.
	ArchivedStatesMax = 40
	// MaxSenderKeyStates is how many sender-key chains a record keeps.
	MaxSenderKeyStates = 5
	// MaxUnacknowledgedSessionAge: a session we started that got no
	// answer in this time is no longer used for sending.
	MaxUnacknowledgedSessionAge = 30 * 24 * time.Hour
)

// sessionState is libsignal's SessionStructure (storage.proto). Fields
// keep their serialized form and are checked when used, so a record made
// by the official library loads and a damaged part fails only the
// operation that needs it.
type sessionState struct {
	version         uint32
	localIdentity   []byte
	remoteIdentity  []byte
	rootKey         []byte
	previousCounter uint32
	senderChain     *chainPB
	receiverChains  []*chainPB // oldest first
	pendingPreKey   *pendingPreKeyPB
	pendingKyber    *pendingKyberPB
	remoteRegID     uint32
	localRegID      uint32
	aliceBaseKey    []byte
	pqState         []byte
}

type chainPB struct {
	ratchetKey     []byte
	ratchetPrivate []byte
	chainKey       *chainKeyPB
	messageKeys    []*messageKeyPB // newest first
}

type chainKeyPB struct {
	index uint32
	key   []byte
}

type messageKeyPB struct {
	index     uint32
	cipherKey []byte
	macKey    []byte
	iv        []byte
	seed      []byte
}

type pendingPreKeyPB struct {
	preKeyID       uint32
	hasPreKeyID    bool
	signedPreKeyID int32
	baseKey        []byte
	timestamp      uint64 // seconds
}

type pendingKyberPB struct {
	preKeyID   uint32
	ciphertext []byte
}

// Field numbers of SessionStructure.
const (
	ssVersion        = 1
	ssLocalIdentity  = 2
	ssRemoteIdentity = 3
	ssRootKey        = 4
	ssPrevCounter    = 5
	ssSenderChain    = 6
	ssReceiverChains = 7
	ssPendingPreKey  = 9
	ssRemoteRegID    = 10
	ssLocalRegID     = 11
	ssAliceBaseKey   = 13
	ssPendingKyber   = 14
	ssPQState        = 15
)

func (s *sessionState) clone() *sessionState {
	c := *s
	if s.senderChain != nil {
		c.senderChain = s.senderChain.clone()
	}
	c.receiverChains = make([]*chainPB, len(s.receiverChains))
	for i, ch := range s.receiverChains {
		c.receiverChains[i] = ch.clone()
	}
	if s.pendingPreKey != nil {
		p := *s.pendingPreKey
		c.pendingPreKey = &p
	}
	if s.pendingKyber != nil {
		p := *s.pendingKyber
		c.pendingKyber = &p
	}
	return &c
}

func (c *chainPB) clone() *chainPB {
	n := *c
	if c.chainKey != nil {
		k := *c.chainKey
		n.chainKey = &k
	}
	n.messageKeys = append([]*messageKeyPB(nil), c.messageKeys...)
	return &n
}

// sizeHint is a generous estimate of the serialized size, so encoding
// does not reallocate as it grows.
func (s *sessionState) sizeHint() int {
	n := 256 + len(s.pqState) + len(s.localIdentity) + len(s.remoteIdentity) + len(s.aliceBaseKey)
	if s.pendingKyber != nil {
		n += len(s.pendingKyber.ciphertext) + 16
	}
	chain := func(c *chainPB) int { return 160 + 48*len(c.messageKeys) }
	if s.senderChain != nil {
		n += chain(s.senderChain)
	}
	for _, c := range s.receiverChains {
		n += chain(c)
	}
	return n
}

func (s *sessionState) bytes() []byte {
	return s.appendTo(make([]byte, 0, s.sizeHint()))
}

func (s *sessionState) appendTo(b []byte) []byte {
	b = appendVarint3(b, ssVersion, uint64(s.version))
	b = appendBytes3(b, ssLocalIdentity, s.localIdentity)
	b = appendBytes3(b, ssRemoteIdentity, s.remoteIdentity)
	b = appendBytes3(b, ssRootKey, s.rootKey)
	b = appendVarint3(b, ssPrevCounter, uint64(s.previousCounter))
	if s.senderChain != nil {
		b = appendBytesField(b, ssSenderChain, s.senderChain.bytes())
	}
	for _, c := range s.receiverChains {
		b = appendBytesField(b, ssReceiverChains, c.bytes())
	}
	if p := s.pendingPreKey; p != nil {
		var pb []byte
		if p.hasPreKeyID {
			pb = appendVarintField(pb, 1, uint64(p.preKeyID))
		}
		pb = appendBytes3(pb, 2, p.baseKey)
		pb = appendVarint3(pb, 3, uint64(int64(p.signedPreKeyID)))
		pb = appendVarint3(pb, 4, p.timestamp)
		b = appendBytesField(b, ssPendingPreKey, pb)
	}
	b = appendVarint3(b, ssRemoteRegID, uint64(s.remoteRegID))
	b = appendVarint3(b, ssLocalRegID, uint64(s.localRegID))
	b = appendBytes3(b, ssAliceBaseKey, s.aliceBaseKey)
	if p := s.pendingKyber; p != nil {
		var pb []byte
		pb = appendVarint3(pb, 1, uint64(p.preKeyID))
		pb = appendBytes3(pb, 2, p.ciphertext)
		b = appendBytesField(b, ssPendingKyber, pb)
	}
	b = appendBytes3(b, ssPQState, s.pqState)
	return b
}

func (c *chainPB) bytes() []byte {
	b := make([]byte, 0, 160+48*len(c.messageKeys))
	b = appendBytes3(b, 1, c.ratchetKey)
	b = appendBytes3(b, 2, c.ratchetPrivate)
	if c.chainKey != nil {
		var kb []byte
		kb = appendVarint3(kb, 1, uint64(c.chainKey.index))
		kb = appendBytes3(kb, 2, c.chainKey.key)
		b = appendBytesField(b, 3, kb)
	}
	for _, m := range c.messageKeys {
		var mb []byte
		mb = appendVarint3(mb, 1, uint64(m.index))
		mb = appendBytes3(mb, 2, m.cipherKey)
		mb = appendBytes3(mb, 3, m.macKey)
		mb = appendBytes3(mb, 4, m.iv)
		mb = appendBytes3(mb, 5, m.seed)
		b = appendBytesField(b, 4, mb)
	}
	return b
}

// decodeFields runs fn on every field of b; fn returns the wire type it
// expects for a known field (and 0, false for an unknown one).
func decodeFields(b []byte, fn func(f pbField) (protowire.Type, bool)) error {
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return err
		}
		b = b[n:]
		if want, known := fn(f); known {
			if err := wrongType(f, want); err != nil {
				return err
			}
		}
	}
	return nil
}

const (
	bytesT  = protowire.BytesType
	varintT = protowire.VarintType
)

// parseSessionState decodes a SessionStructure; into merges, as protobuf
// merges a repeated embedded message.
func parseSessionState(b []byte, s *sessionState) error {
	var inner error
	err := decodeFields(b, func(f pbField) (protowire.Type, bool) {
		switch f.num {
		case ssVersion:
			s.version = uint32(f.v)
			return varintT, true
		case ssLocalIdentity:
			s.localIdentity = clone(f.b)
			return bytesT, true
		case ssRemoteIdentity:
			s.remoteIdentity = clone(f.b)
			return bytesT, true
		case ssRootKey:
			s.rootKey = clone(f.b)
			return bytesT, true
		case ssPrevCounter:
			s.previousCounter = uint32(f.v)
			return varintT, true
		case ssSenderChain:
			if f.typ == bytesT && inner == nil {
				if s.senderChain == nil {
					s.senderChain = &chainPB{}
				}
				inner = parseChain(f.b, s.senderChain)
			}
			return bytesT, true
		case ssReceiverChains:
			if f.typ == bytesT && inner == nil {
				c := &chainPB{}
				inner = parseChain(f.b, c)
				s.receiverChains = append(s.receiverChains, c)
			}
			return bytesT, true
		case ssPendingPreKey:
			if f.typ == bytesT && inner == nil {
				if s.pendingPreKey == nil {
					s.pendingPreKey = &pendingPreKeyPB{}
				}
				p := s.pendingPreKey
				inner = decodeFields(f.b, func(g pbField) (protowire.Type, bool) {
					switch g.num {
					case 1:
						p.preKeyID, p.hasPreKeyID = uint32(g.v), true
						return varintT, true
					case 2:
						p.baseKey = clone(g.b)
						return bytesT, true
					case 3:
						p.signedPreKeyID = int32(g.v)
						return varintT, true
					case 4:
						p.timestamp = g.v
						return varintT, true
					}
					return 0, false
				})
			}
			return bytesT, true
		case ssRemoteRegID:
			s.remoteRegID = uint32(f.v)
			return varintT, true
		case ssLocalRegID:
			s.localRegID = uint32(f.v)
			return varintT, true
		case ssAliceBaseKey:
			s.aliceBaseKey = clone(f.b)
			return bytesT, true
		case ssPendingKyber:
			if f.typ == bytesT && inner == nil {
				if s.pendingKyber == nil {
					s.pendingKyber = &pendingKyberPB{}
				}
				p := s.pendingKyber
				inner = decodeFields(f.b, func(g pbField) (protowire.Type, bool) {
					switch g.num {
					case 1:
						p.preKeyID = uint32(g.v)
						return varintT, true
					case 2:
						p.ciphertext = clone(g.b)
						return bytesT, true
					}
					return 0, false
				})
			}
			return bytesT, true
		case ssPQState:
			s.pqState = clone(f.b)
			return bytesT, true
		}
		return 0, false
	})
	if err == nil {
		err = inner
	}
	return err
}

func parseChain(b []byte, c *chainPB) error {
	var inner error
	err := decodeFields(b, func(f pbField) (protowire.Type, bool) {
		switch f.num {
		case 1:
			c.ratchetKey = clone(f.b)
			return bytesT, true
		case 2:
			c.ratchetPrivate = clone(f.b)
			return bytesT, true
		case 3:
			if f.typ == bytesT && inner == nil {
				if c.chainKey == nil {
					c.chainKey = &chainKeyPB{}
				}
				k := c.chainKey
				inner = decodeFields(f.b, func(g pbField) (protowire.Type, bool) {
					switch g.num {
					case 1:
						k.index = uint32(g.v)
						return varintT, true
					case 2:
						k.key = clone(g.b)
						return bytesT, true
					}
					return 0, false
				})
			}
			return bytesT, true
		case 4:
			if f.typ == bytesT && inner == nil {
				m := &messageKeyPB{}
				inner = decodeFields(f.b, func(g pbField) (protowire.Type, bool) {
					switch g.num {
					case 1:
						m.index = uint32(g.v)
						return varintT, true
					case 2:
						m.cipherKey = clone(g.b)
					case 3:
						m.macKey = clone(g.b)
					case 4:
						m.iv = clone(g.b)
					case 5:
						m.seed = clone(g.b)
					default:
						return 0, false
					}
					return bytesT, true
				})
				c.messageKeys = append(c.messageKeys, m)
			}
			return bytesT, true
		}
		return 0, false
	})
	if err == nil {
		err = inner
	}
	return err
}

// sessionVersion returns the version, 0 meaning the old version 2.
func (s *sessionState) sessionVersion() uint32 {
	if s.version == 0 {
		return 2
	}
	return s.version
}

func (s *sessionState) localIdentityKey() (IdentityKey, error) {
	k, err := ParseIdentityKey(s.localIdentity)
	if err != nil {
		return k, fmt.Errorf("%w: local identity key: %w", ErrInvalidRecord, err)
	}
	return k, nil
}

func (s *sessionState) remoteIdentityKey() (IdentityKey, error) {
	k, err := ParseIdentityKey(s.remoteIdentity)
	if err != nil {
		return k, fmt.Errorf("%w: remote identity key: %w", ErrInvalidRecord, err)
	}
	return k, nil
}

// clearPending drops the pending prekey material once the other side
// answered (or the state is archived).
func (s *sessionState) clearPending() {
	s.pendingPreKey = nil
	s.pendingKyber = nil
}

// usableForSending reports whether the state can encrypt: it has a
// sender chain, is not an unanswered session older than
// MaxUnacknowledgedSessionAge, was set up with PQXDH and has a PQ
// ratchet (as libsignal's SessionRecord::has_usable_sender_chain with
// all requirements).
func (s *sessionState) usableForSending(now time.Time) bool {
	if s.senderChain == nil {
		return false
	}
	if p := s.pendingPreKey; p != nil {
		if time.Unix(int64(p.timestamp), 0).Add(MaxUnacknowledgedSessionAge).Before(now) {
			return false
		}
	}
	return s.sessionVersion() > preKyberVersion && len(s.pqState) > 0
}

// SessionRecord is the state of the sessions with one remote device: the
// current session and up to ArchivedStatesMax previous ones, newest
// first. Its serialized form is libsignal's RecordStructure, so records
// of the official library load here and the other way round. It never
// prints or logs its keys.
type SessionRecord struct {
	current  *sessionState
	previous [][]byte // serialized SessionStructure, newest first
}

// NewSessionRecord returns a record without sessions.
func NewSessionRecord() *SessionRecord { return &SessionRecord{} }

// ParseSessionRecord decodes a serialized record. The current session is
// decoded now; previous ones when a message needs them.
func ParseSessionRecord(b []byte) (*SessionRecord, error) {
	r := &SessionRecord{}
	var inner error
	err := decodeFields(b, func(f pbField) (protowire.Type, bool) {
		switch f.num {
		case 1:
			if f.typ == bytesT && inner == nil {
				if r.current == nil {
					r.current = &sessionState{}
				}
				inner = parseSessionState(f.b, r.current)
			}
			return bytesT, true
		case 2:
			r.previous = append(r.previous, clone(f.b))
			return bytesT, true
		}
		return 0, false
	})
	if err == nil {
		err = inner
	}
	if err != nil {
		return nil, fmt.Errorf("%w: session record: %w", ErrInvalidRecord, err)
	}
	return r, nil
}

// Bytes serializes the record.
func (r *SessionRecord) Bytes() []byte {
	n := 16
	if r.current != nil {
		n += r.current.sizeHint()
	}
	for _, p := range r.previous {
		n += len(p) + 8
	}
	b := make([]byte, 0, n)
	if r.current != nil {
		// The length prefix is written once the body's size is known.
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		start := len(b)
		b = r.current.appendTo(b)
		body := len(b) - start
		prefix := protowire.SizeVarint(uint64(body))
		b = append(b, make([]byte, prefix)...)
		copy(b[start+prefix:], b[start:start+body])
		protowire.AppendVarint(b[start:start], uint64(body))
	}
	for _, p := range r.previous {
		b = appendBytesField(b, 2, p)
	}
	return b
}

// HasCurrentState reports whether the record has a session usable for
// sending at now.
func (r *SessionRecord) HasCurrentState(now time.Time) bool {
	return r != nil && r.current != nil && r.current.usableForSending(now)
}

// ArchiveCurrentState moves the current session to the previous ones; a
// new session must be set up before the next send (a session reset).
func (r *SessionRecord) ArchiveCurrentState() {
	if r.current == nil {
		return
	}
	if len(r.previous) >= ArchivedStatesMax {
		r.previous = r.previous[:ArchivedStatesMax-1]
	}
	r.current.clearPending()
	r.previous = append([][]byte{r.current.bytes()}, r.previous...)
	r.current = nil
}

// promoteState makes s the current session, archiving the old one.
func (r *SessionRecord) promoteState(s *sessionState) {
	r.ArchiveCurrentState()
	r.current = s
}

// previousState decodes previous session i.
func (r *SessionRecord) previousState(i int) (*sessionState, error) {
	s := &sessionState{}
	if err := parseSessionState(r.previous[i], s); err != nil {
		return nil, fmt.Errorf("%w: previous session %d: %w", ErrInvalidRecord, i, err)
	}
	return s, nil
}

// promoteOld replaces the current session with previous session i,
// updated to s.
func (r *SessionRecord) promoteOld(i int, s *sessionState) {
	r.previous = append(r.previous[:i:i], r.previous[i+1:]...)
	r.promoteState(s)
}

// promoteMatching makes the session set up by the prekey message with
// this base key current, if there is one, and reports whether it did.
func (r *SessionRecord) promoteMatching(version uint32, baseKey []byte) bool {
	if r.current != nil && r.current.sessionVersion() == version && constantTimeEqual(r.current.aliceBaseKey, baseKey) {
		return true
	}
	for i := range r.previous {
		s, err := r.previousState(i)
		if err != nil {
			continue
		}
		if s.sessionVersion() == version && constantTimeEqual(s.aliceBaseKey, baseKey) {
			r.promoteOld(i, s)
			return true
		}
	}
	return false
}

// RemoteRegistrationID returns the current session's remote registration
// id (ErrNoSession without one).
func (r *SessionRecord) RemoteRegistrationID() (uint32, error) {
	if r.current == nil {
		return 0, ErrNoSession
	}
	return r.current.remoteRegID, nil
}

// RemoteIdentity returns the current session's remote identity key.
func (r *SessionRecord) RemoteIdentity() (IdentityKey, error) {
	if r.current == nil {
		return IdentityKey{}, ErrNoSession
	}
	return r.current.remoteIdentityKey()
}

// PreviousSessions returns how many archived sessions the record holds.
func (r *SessionRecord) PreviousSessions() int { return len(r.previous) }

// String describes the record without its keys.
func (r *SessionRecord) String() string {
	return fmt.Sprintf("SessionRecord(current=%t, previous=%d)", r.current != nil, len(r.previous))
}

// GoString describes the record without its keys.
func (r *SessionRecord) GoString() string { return r.String() }

// LogValue describes the record without its keys.
func (r *SessionRecord) LogValue() slog.Value { return slog.StringValue(r.String()) }

// CurrentRatchetKeyMatches reports whether key is the sender ratchet key
// of the current session, as libsignal's current_ratchet_key_matches: a
// DecryptionErrorMessage naming it is about this session, which the
// sender then archives.
func (r *SessionRecord) CurrentRatchetKeyMatches(key PublicKey) bool {
	if r == nil || r.current == nil || r.current.senderChain == nil {
		return false
	}
	return constantTimeEqual(r.current.senderChain.ratchetKey, key.Bytes())
}
