// Package signaltest provides in-memory implementations of the signal
// package's stores, for tests and tools. It keeps everything in maps
// guarded by one mutex and never persists anything.
package signaltest

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/signal"
)

// Store implements every store interface of package signal in memory.
// Identities are trusted on first use; a changed identity is untrusted
// until SaveIdentity records it (the user approved the change).
type Store struct {
	mu         sync.Mutex // guards the following fields
	identity   signal.IdentityKeyPair
	regID      uint32
	identities map[signal.ProtocolAddress]signal.IdentityKey
	preKeys    map[uint32][]byte
	signed     map[uint32][]byte
	kyber      map[uint32][]byte
	lastResort map[uint32]bool
	kyberUses  map[kyberUse]bool
	sessions   map[signal.ProtocolAddress][]byte
	senderKeys map[senderKeyID][]byte
}

type kyberUse struct {
	id, signed uint32
	base       signal.PublicKey
}

type senderKeyID struct {
	sender signal.ProtocolAddress
	dist   uuid.UUID
}

var (
	_ signal.IdentityStore     = (*Store)(nil)
	_ signal.PreKeyStore       = (*Store)(nil)
	_ signal.SignedPreKeyStore = (*Store)(nil)
	_ signal.KyberPreKeyStore  = (*Store)(nil)
	_ signal.SessionStore      = (*Store)(nil)
	_ signal.SenderKeyStore    = (*Store)(nil)
)

// NewStore returns an empty store for a device with this identity and
// registration id.
func NewStore(identity signal.IdentityKeyPair, registrationID uint32) *Store {
	return &Store{
		identity:   identity,
		regID:      registrationID,
		identities: map[signal.ProtocolAddress]signal.IdentityKey{},
		preKeys:    map[uint32][]byte{},
		signed:     map[uint32][]byte{},
		kyber:      map[uint32][]byte{},
		lastResort: map[uint32]bool{},
		kyberUses:  map[kyberUse]bool{},
		sessions:   map[signal.ProtocolAddress][]byte{},
		senderKeys: map[senderKeyID][]byte{},
	}
}

// Config returns a signal.Config with this store in every role.
func (s *Store) Config() signal.Config {
	return signal.Config{Identity: s, PreKeys: s, SignedPreKeys: s, KyberPreKeys: s, Sessions: s, SenderKeys: s}
}

// IdentityKeyPair implements signal.IdentityStore.
func (s *Store) IdentityKeyPair(context.Context) (signal.IdentityKeyPair, error) {
	return s.identity, nil
}

// LocalRegistrationID implements signal.IdentityStore.
func (s *Store) LocalRegistrationID(context.Context) (uint32, error) { return s.regID, nil }

// SaveIdentity implements signal.IdentityStore.
func (s *Store) SaveIdentity(_ context.Context, addr signal.ProtocolAddress, key signal.IdentityKey) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.identities[addr]
	s.identities[addr] = key
	return ok && !old.Equal(key), nil
}

// IsTrustedIdentity implements signal.IdentityStore.
func (s *Store) IsTrustedIdentity(_ context.Context, addr signal.ProtocolAddress, key signal.IdentityKey, _ signal.Direction) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.identities[addr]
	return !ok || old.Equal(key), nil
}

// Identity implements signal.IdentityStore.
func (s *Store) Identity(_ context.Context, addr signal.ProtocolAddress) (signal.IdentityKey, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.identities[addr]
	return k, ok, nil
}

// AddPreKey stores a one-time prekey.
func (s *Store) AddPreKey(r *signal.PreKeyRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.preKeys[r.ID] = r.Bytes()
}

// PreKey implements signal.PreKeyStore.
func (s *Store) PreKey(_ context.Context, id uint32) (*signal.PreKeyRecord, error) {
	s.mu.Lock()
	b, ok := s.preKeys[id]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %d", signal.ErrInvalidPreKeyID, id)
	}
	return signal.ParsePreKeyRecord(b)
}

// RemovePreKey implements signal.PreKeyStore.
func (s *Store) RemovePreKey(_ context.Context, id uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.preKeys, id)
	return nil
}

// PreKeyCount returns how many one-time prekeys are left.
func (s *Store) PreKeyCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.preKeys)
}

// AddSignedPreKey stores a signed prekey.
func (s *Store) AddSignedPreKey(r *signal.SignedPreKeyRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signed[r.ID] = r.Bytes()
}

// SignedPreKey implements signal.SignedPreKeyStore.
func (s *Store) SignedPreKey(_ context.Context, id uint32) (*signal.SignedPreKeyRecord, error) {
	s.mu.Lock()
	b, ok := s.signed[id]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %d", signal.ErrInvalidSignedPreKeyID, id)
	}
	return signal.ParseSignedPreKeyRecord(b)
}

// AddKyberPreKey stores a Kyber prekey; a last-resort one is kept after use.
func (s *Store) AddKyberPreKey(r *signal.KyberPreKeyRecord, lastResort bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kyber[r.ID] = r.Bytes()
	s.lastResort[r.ID] = lastResort
}

// KyberPreKey implements signal.KyberPreKeyStore.
func (s *Store) KyberPreKey(_ context.Context, id uint32) (*signal.KyberPreKeyRecord, error) {
	s.mu.Lock()
	b, ok := s.kyber[id]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %d", signal.ErrInvalidKyberPreKeyID, id)
	}
	return signal.ParseKyberPreKeyRecord(b)
}

// MarkKyberPreKeyUsed implements signal.KyberPreKeyStore: a one-time key
// is removed; a last-resort key is kept, and the same (signed prekey,
// base key) using it twice is refused as a replayed session start.
func (s *Store) MarkKyberPreKeyUsed(_ context.Context, id, signedID uint32, base signal.PublicKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lastResort[id] {
		delete(s.kyber, id)
		delete(s.lastResort, id)
		return nil
	}
	use := kyberUse{id: id, signed: signedID, base: base}
	if s.kyberUses[use] {
		return fmt.Errorf("%w: last-resort kyber prekey %d reused with the same base key", signal.ErrInvalidMessage, id)
	}
	s.kyberUses[use] = true
	return nil
}

// HasKyberPreKey reports whether the Kyber prekey is still stored.
func (s *Store) HasKyberPreKey(id uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.kyber[id]
	return ok
}

// LoadSession implements signal.SessionStore; records go through their
// serialized form, as they would through a database.
func (s *Store) LoadSession(_ context.Context, addr signal.ProtocolAddress) (*signal.SessionRecord, error) {
	s.mu.Lock()
	b, ok := s.sessions[addr]
	s.mu.Unlock()
	if !ok {
		return nil, nil
	}
	return signal.ParseSessionRecord(b)
}

// StoreSession implements signal.SessionStore.
func (s *Store) StoreSession(_ context.Context, addr signal.ProtocolAddress, r *signal.SessionRecord) error {
	b := r.Bytes()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[addr] = b
	return nil
}

// SessionBytes returns the stored record of addr (nil when none).
func (s *Store) SessionBytes(addr signal.ProtocolAddress) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[addr]
}

// SetSessionBytes stores a serialized record for addr as it is.
func (s *Store) SetSessionBytes(addr signal.ProtocolAddress, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[addr] = b
}

// LoadSenderKey implements signal.SenderKeyStore.
func (s *Store) LoadSenderKey(_ context.Context, sender signal.ProtocolAddress, dist uuid.UUID) (*signal.SenderKeyRecord, error) {
	s.mu.Lock()
	b, ok := s.senderKeys[senderKeyID{sender, dist}]
	s.mu.Unlock()
	if !ok {
		return nil, nil
	}
	return signal.ParseSenderKeyRecord(b)
}

// StoreSenderKey implements signal.SenderKeyStore.
func (s *Store) StoreSenderKey(_ context.Context, sender signal.ProtocolAddress, dist uuid.UUID, r *signal.SenderKeyRecord) error {
	b := r.Bytes()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.senderKeys[senderKeyID{sender, dist}] = b
	return nil
}

// Device is a whole local device for tests: identity, store, a bundle's
// worth of prekeys and a Cipher.
type Device struct {
	Address signal.ProtocolAddress
	Store   *Store
	Cipher  *signal.Cipher
	nextID  uint32
}

// NewDevice returns a device with a fresh identity.
func NewDevice(addr signal.ProtocolAddress, registrationID uint32, rnd io.Reader) (*Device, error) {
	id, err := signal.GenerateIdentityKeyPair(rnd)
	if err != nil {
		return nil, err
	}
	st := NewStore(id, registrationID)
	cfg := st.Config()
	cfg.Rand = rnd
	c, err := signal.NewCipher(addr, cfg)
	if err != nil {
		return nil, err
	}
	return &Device{Address: addr, Store: st, Cipher: c, nextID: 1}, nil
}

// Bundle makes and stores new prekeys and returns their bundle: with a
// one-time prekey when oneTime, with a last-resort Kyber prekey (kept
// after use) when lastResort.
func (d *Device) Bundle(oneTime, lastResort bool) (*signal.PreKeyBundle, error) {
	id, _ := d.Store.IdentityKeyPair(context.Background())
	now := time.Now()
	signed, err := signal.GenerateSignedPreKey(id, d.next(), now, nil)
	if err != nil {
		return nil, err
	}
	kyber, err := signal.GenerateKyberPreKey(id, d.next(), now, nil)
	if err != nil {
		return nil, err
	}
	d.Store.AddSignedPreKey(signed)
	d.Store.AddKyberPreKey(kyber, lastResort)
	b := &signal.PreKeyBundle{
		RegistrationID: d.Store.regID, DeviceID: d.Address.DeviceID,
		SignedPreKeyID: signed.ID, SignedPreKey: signed.KeyPair.Public, SignedPreKeySignature: signed.Signature,
		IdentityKey:   id.Public,
		KyberPreKeyID: kyber.ID, KyberPreKey: kyber.KeyPair.Public, KyberPreKeySignature: kyber.Signature,
	}
	if oneTime {
		pk, err := signal.GeneratePreKey(d.next(), nil)
		if err != nil {
			return nil, err
		}
		d.Store.AddPreKey(pk)
		b.PreKeyID, b.PreKey = pk.ID, &pk.KeyPair.Public
	}
	return b, nil
}

func (d *Device) next() uint32 {
	d.nextID++
	return d.nextID - 1
}
