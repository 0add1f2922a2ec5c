package signal

import (
	"context"

	"github.com/google/uuid"
)

// Direction tells an IdentityStore why an identity is being checked.
type Direction int

// Directions.
const (
	Sending Direction = iota
	Receiving
)

// IdentityStore holds the device's own identity and the identities it
// has seen for others.
type IdentityStore interface {
	// IdentityKeyPair returns the device's own identity.
	IdentityKeyPair(ctx context.Context) (IdentityKeyPair, error)
	// LocalRegistrationID returns the device's registration id.
	LocalRegistrationID(ctx context.Context) (uint32, error)
	// SaveIdentity records key as addr's identity and reports whether it
	// replaced a different key (the identity changed).
	SaveIdentity(ctx context.Context, addr ProtocolAddress, key IdentityKey) (changed bool, err error)
	// IsTrustedIdentity reports whether key may be used for addr: usually
	// when no identity is known yet or it equals the known one, unless
	// the user approved a change.
	IsTrustedIdentity(ctx context.Context, addr ProtocolAddress, key IdentityKey, dir Direction) (bool, error)
	// Identity returns the identity known for addr (false when none).
	Identity(ctx context.Context, addr ProtocolAddress) (IdentityKey, bool, error)
}

// PreKeyStore holds one-time prekeys.
type PreKeyStore interface {
	// PreKey returns the prekey; an unknown id is ErrInvalidPreKeyID.
	PreKey(ctx context.Context, id uint32) (*PreKeyRecord, error)
	// RemovePreKey deletes a prekey once a session used it.
	RemovePreKey(ctx context.Context, id uint32) error
}

// SignedPreKeyStore holds signed prekeys.
type SignedPreKeyStore interface {
	// SignedPreKey returns the key; an unknown id is ErrInvalidSignedPreKeyID.
	SignedPreKey(ctx context.Context, id uint32) (*SignedPreKeyRecord, error)
}

// KyberPreKeyStore holds Kyber prekeys, one-time and last-resort.
type KyberPreKeyStore interface {
	// KyberPreKey returns the key; an unknown id is ErrInvalidKyberPreKeyID.
	KyberPreKey(ctx context.Context, id uint32) (*KyberPreKeyRecord, error)
	// MarkKyberPreKeyUsed is called after a session was set up with the
	// key: a one-time key is removed; a last-resort key is kept and the
	// use (signed prekey id, base key) recorded, and a store may refuse
	// a use it has seen before (a replayed session start) with an error.
	MarkKyberPreKeyUsed(ctx context.Context, id, signedPreKeyID uint32, baseKey PublicKey) error
}

// SessionStore holds one session record per remote device.
type SessionStore interface {
	// LoadSession returns the record for addr, or nil when there is none.
	LoadSession(ctx context.Context, addr ProtocolAddress) (*SessionRecord, error)
	// StoreSession saves the record for addr.
	StoreSession(ctx context.Context, addr ProtocolAddress, rec *SessionRecord) error
}

// SenderKeyStore holds sender-key records per sender device and
// distribution (group).
type SenderKeyStore interface {
	// LoadSenderKey returns the record, or nil when there is none.
	LoadSenderKey(ctx context.Context, sender ProtocolAddress, distributionID uuid.UUID) (*SenderKeyRecord, error)
	// StoreSenderKey saves the record.
	StoreSenderKey(ctx context.Context, sender ProtocolAddress, distributionID uuid.UUID, rec *SenderKeyRecord) error
}
