package signal

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// PreKeyRecord is a one-time Curve25519 prekey. Its serialized form is
// libsignal's PreKeyRecordStructure.
type PreKeyRecord struct {
	ID      uint32
	KeyPair KeyPair
}

// GeneratePreKey returns a new one-time prekey (crypto/rand when r is nil).
func GeneratePreKey(id uint32, r io.Reader) (*PreKeyRecord, error) {
	kp, err := GenerateKeyPair(r)
	if err != nil {
		return nil, err
	}
	return &PreKeyRecord{ID: id, KeyPair: kp}, nil
}

// Bytes serializes the record (id = 1, public_key = 2, private_key = 3).
func (r *PreKeyRecord) Bytes() []byte {
	var b []byte
	b = appendVarint3(b, 1, uint64(r.ID))
	b = appendBytes3(b, 2, r.KeyPair.Public.Bytes())
	b = appendBytes3(b, 3, r.KeyPair.Private.b[:])
	return b
}

// ParsePreKeyRecord decodes PreKeyRecord.Bytes.
func ParsePreKeyRecord(b []byte) (*PreKeyRecord, error) {
	var id uint64
	var pub, priv []byte
	err := walkFields(b, func(num protowire.Number, _ protowire.Type, v []byte, x uint64) error {
		switch num {
		case 1:
			id = x
		case 2:
			pub = v
		case 3:
			priv = v
		}
		return nil
	}, map[protowire.Number]protowire.Type{1: protowire.VarintType, 2: protowire.BytesType, 3: protowire.BytesType})
	if err != nil {
		return nil, fmt.Errorf("%w: prekey: %w", ErrInvalidRecord, err)
	}
	kp, err := parseKeyPair(pub, priv)
	if err != nil {
		return nil, fmt.Errorf("%w: prekey %d: %w", ErrInvalidRecord, uint32(id), err)
	}
	return &PreKeyRecord{ID: uint32(id), KeyPair: kp}, nil
}

// String names the record without its keys.
func (r *PreKeyRecord) String() string { return fmt.Sprintf("PreKeyRecord(%d)", r.ID) }

// LogValue names the record without its keys.
func (r *PreKeyRecord) LogValue() slog.Value { return slog.StringValue(r.String()) }

func parseKeyPair(pub, priv []byte) (KeyPair, error) {
	p, err := ParsePublicKey(pub)
	if err != nil {
		return KeyPair{}, err
	}
	k, err := ParsePrivateKey(priv)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{Public: p, Private: k}, nil
}

// signedRecord is libsignal's SignedPreKeyRecordStructure, shared by
// signed and Kyber prekeys (id = 1, public_key = 2, private_key = 3,
// signature = 4, timestamp = 5 as fixed64 milliseconds).
type signedRecord struct {
	id        uint32
	pub, priv []byte
	signature []byte
	timestamp uint64
}

func (s signedRecord) bytes() []byte {
	var b []byte
	b = appendVarint3(b, 1, uint64(s.id))
	b = appendBytes3(b, 2, s.pub)
	b = appendBytes3(b, 3, s.priv)
	b = appendBytes3(b, 4, s.signature)
	if s.timestamp != 0 {
		b = protowire.AppendTag(b, 5, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, s.timestamp)
	}
	return b
}

func parseSignedRecord(b []byte) (signedRecord, error) {
	var s signedRecord
	err := walkFields(b, func(num protowire.Number, _ protowire.Type, v []byte, x uint64) error {
		switch num {
		case 1:
			s.id = uint32(x)
		case 2:
			s.pub = v
		case 3:
			s.priv = v
		case 4:
			s.signature = clone(v)
		case 5:
			s.timestamp = x
		}
		return nil
	}, map[protowire.Number]protowire.Type{1: protowire.VarintType, 2: protowire.BytesType, 3: protowire.BytesType, 4: protowire.BytesType, 5: protowire.Fixed64Type})
	return s, err
}

func millis(t time.Time) uint64 {
	if t.IsZero() || t.UnixMilli() < 0 {
		return 0
	}
	return uint64(t.UnixMilli())
}

// SignedPreKeyRecord is a medium-term Curve25519 prekey signed by the
// identity key.
type SignedPreKeyRecord struct {
	ID        uint32
	Timestamp time.Time // millisecond precision
	KeyPair   KeyPair
	Signature []byte // XEdDSA over the serialized public key
}

// GenerateSignedPreKey returns a new signed prekey (crypto/rand when r is nil).
func GenerateSignedPreKey(identity IdentityKeyPair, id uint32, now time.Time, r io.Reader) (*SignedPreKeyRecord, error) {
	kp, err := GenerateKeyPair(r)
	if err != nil {
		return nil, err
	}
	sig, err := identity.Private.Sign(r, kp.Public.Bytes())
	if err != nil {
		return nil, err
	}
	return &SignedPreKeyRecord{ID: id, Timestamp: time.UnixMilli(int64(millis(now))), KeyPair: kp, Signature: sig}, nil
}

// Bytes serializes the record as SignedPreKeyRecordStructure.
func (r *SignedPreKeyRecord) Bytes() []byte {
	return signedRecord{r.ID, r.KeyPair.Public.Bytes(), r.KeyPair.Private.b[:], r.Signature, millis(r.Timestamp)}.bytes()
}

// ParseSignedPreKeyRecord decodes SignedPreKeyRecord.Bytes.
func ParseSignedPreKeyRecord(b []byte) (*SignedPreKeyRecord, error) {
	s, err := parseSignedRecord(b)
	if err != nil {
		return nil, fmt.Errorf("%w: signed prekey: %w", ErrInvalidRecord, err)
	}
	kp, err := parseKeyPair(s.pub, s.priv)
	if err != nil {
		return nil, fmt.Errorf("%w: signed prekey %d: %w", ErrInvalidRecord, s.id, err)
	}
	return &SignedPreKeyRecord{ID: s.id, Timestamp: time.UnixMilli(int64(s.timestamp)), KeyPair: kp, Signature: s.signature}, nil
}

// String names the record without its keys.
func (r *SignedPreKeyRecord) String() string { return fmt.Sprintf("SignedPreKeyRecord(%d)", r.ID) }

// LogValue names the record without its keys.
func (r *SignedPreKeyRecord) LogValue() slog.Value { return slog.StringValue(r.String()) }

// KyberPreKeyRecord is a Kyber1024 prekey signed by the identity key:
// one-time, or the last-resort key kept until replaced.
type KyberPreKeyRecord struct {
	ID        uint32
	Timestamp time.Time
	KeyPair   KEMKeyPair
	Signature []byte // XEdDSA over the serialized public key
}

// GenerateKyberPreKey returns a new signed Kyber prekey (crypto/rand when
// r is nil).
func GenerateKyberPreKey(identity IdentityKeyPair, id uint32, now time.Time, r io.Reader) (*KyberPreKeyRecord, error) {
	kp, err := GenerateKEMKeyPair(r)
	if err != nil {
		return nil, err
	}
	sig, err := identity.Private.Sign(r, kp.Public.Bytes())
	if err != nil {
		return nil, err
	}
	return &KyberPreKeyRecord{ID: id, Timestamp: time.UnixMilli(int64(millis(now))), KeyPair: kp, Signature: sig}, nil
}

// Bytes serializes the record as SignedPreKeyRecordStructure.
func (r *KyberPreKeyRecord) Bytes() []byte {
	return signedRecord{r.ID, r.KeyPair.Public.Bytes(), r.KeyPair.Secret.Bytes(), r.Signature, millis(r.Timestamp)}.bytes()
}

// ParseKyberPreKeyRecord decodes KyberPreKeyRecord.Bytes.
func ParseKyberPreKeyRecord(b []byte) (*KyberPreKeyRecord, error) {
	s, err := parseSignedRecord(b)
	if err != nil {
		return nil, fmt.Errorf("%w: kyber prekey: %w", ErrInvalidRecord, err)
	}
	pub, err := ParseKEMPublicKey(s.pub)
	if err != nil {
		return nil, fmt.Errorf("%w: kyber prekey %d: %w", ErrInvalidRecord, s.id, err)
	}
	sec, err := ParseKEMSecretKey(s.priv)
	if err != nil {
		return nil, fmt.Errorf("%w: kyber prekey %d: %w", ErrInvalidRecord, s.id, err)
	}
	return &KyberPreKeyRecord{ID: s.id, Timestamp: time.UnixMilli(int64(s.timestamp)), KeyPair: KEMKeyPair{Public: pub, Secret: sec}, Signature: s.signature}, nil
}

// String names the record without its keys.
func (r *KyberPreKeyRecord) String() string { return fmt.Sprintf("KyberPreKeyRecord(%d)", r.ID) }

// LogValue names the record without its keys.
func (r *KyberPreKeyRecord) LogValue() slog.Value { return slog.StringValue(r.String()) }

// PreKeyBundle is what a device publishes for others to start sessions
// with it: its identity, a signed prekey, a signed Kyber prekey and,
// while it has some, a one-time prekey.
type PreKeyBundle struct {
	RegistrationID uint32
	DeviceID       uint32

	PreKeyID uint32
	PreKey   *PublicKey // nil when the bundle has no one-time prekey

	SignedPreKeyID        uint32
	SignedPreKey          PublicKey
	SignedPreKeySignature []byte

	IdentityKey IdentityKey

	KyberPreKeyID        uint32
	KyberPreKey          *KEMPublicKey
	KyberPreKeySignature []byte
}

// verify checks the bundle's two signatures.
func (b *PreKeyBundle) verify() error {
	if b.KyberPreKey == nil {
		return fmt.Errorf("%w: bundle without a kyber prekey", ErrInvalidArgument)
	}
	if !b.IdentityKey.Verify(b.SignedPreKey.Bytes(), b.SignedPreKeySignature) {
		return fmt.Errorf("%w: signed prekey %d", ErrInvalidSignature, b.SignedPreKeyID)
	}
	if !b.IdentityKey.Verify(b.KyberPreKey.raw, b.KyberPreKeySignature) {
		return fmt.Errorf("%w: kyber prekey %d", ErrInvalidSignature, b.KyberPreKeyID)
	}
	return nil
}
