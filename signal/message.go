package signal

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// CiphertextType is the type of an encrypted message, with libsignal's
// numbers (CiphertextMessageType).
type CiphertextType int

// Ciphertext types.
const (
	TypeWhisper   CiphertextType = 2 // SignalMessage
	TypePreKey    CiphertextType = 3 // PreKeySignalMessage
	TypeSenderKey CiphertextType = 7 // SenderKeyMessage
	TypePlaintext CiphertextType = 8 // PlaintextContent
)

// Message versions.
const (
	currentVersion   = 4 // PQXDH
	preKyberVersion  = 3 // X3DH; no longer accepted for new sessions
	senderKeyVersion = 3
	macSize          = 8
)

// SignalMessage is a Double Ratchet message: a version byte, the protobuf
// SignalMessage of wire.proto and an 8-byte MAC.
type SignalMessage struct {
	Version         uint8 // high nibble of the first byte
	RatchetKey      PublicKey
	Counter         uint32
	PreviousCounter uint32
	Ciphertext      []byte
	PQRatchet       []byte // SPQR message; empty without a PQ ratchet
	Addresses       []byte // sender and recipient service ids; nil when absent

	serialized []byte
}

// Bytes returns the message as sent or received.
func (m *SignalMessage) Bytes() []byte { return m.serialized }

// ParseSignalMessage decodes a SignalMessage. It checks the layout; the
// MAC is checked when decrypting.
func ParseSignalMessage(b []byte) (*SignalMessage, error) {
	if len(b) < 1+macSize {
		return nil, fmt.Errorf("%w: signal message of %d bytes", ErrInvalidMessage, len(b))
	}
	v := b[0] >> 4
	if v < preKyberVersion || v > currentVersion {
		return nil, fmt.Errorf("%w: signal message version %d", ErrVersion, v)
	}
	m := &SignalMessage{Version: v, serialized: clone(b)}
	var haveKey, haveCounter, haveCiphertext bool
	body := m.serialized[1 : len(m.serialized)-macSize]
	for len(body) > 0 {
		f, n, err := nextField(body)
		if err != nil {
			return nil, fmt.Errorf("%w: signal message: %w", ErrInvalidMessage, err)
		}
		body = body[n:]
		var want protowire.Type
		switch f.num {
		case 1:
			want = protowire.BytesType
			if f.typ == want {
				k, err := ParsePublicKey(f.b)
				if err != nil {
					return nil, fmt.Errorf("%w: ratchet key: %w", ErrInvalidMessage, err)
				}
				m.RatchetKey, haveKey = k, true
			}
		case 2:
			want = protowire.VarintType
			m.Counter, haveCounter = uint32(f.v), true
		case 3:
			want = protowire.VarintType
			m.PreviousCounter = uint32(f.v)
		case 4:
			want = protowire.BytesType
			m.Ciphertext, haveCiphertext = f.b, true
		case 5:
			want = protowire.BytesType
			m.PQRatchet = f.b
		case 6:
			want = protowire.BytesType
			m.Addresses = f.b
			if m.Addresses == nil {
				m.Addresses = []byte{}
			}
		default:
			continue
		}
		if err := wrongType(f, want); err != nil {
			return nil, fmt.Errorf("%w: signal message: %w", ErrInvalidMessage, err)
		}
	}
	if !haveKey || !haveCounter || !haveCiphertext {
		return nil, fmt.Errorf("%w: signal message lacks a required field", ErrInvalidMessage)
	}
	return m, nil
}

// newSignalMessage builds and MACs a message.
func newSignalMessage(version uint8, macKey []byte, addresses []byte, ratchetKey PublicKey, counter, previousCounter uint32,
	ciphertext []byte, sender, receiver IdentityKey, pq []byte) *SignalMessage {
	b := make([]byte, 0, 1+PublicKeySize+16+len(ciphertext)+len(pq)+len(addresses)+macSize+16)
	b = append(b, (version&0xF)<<4|currentVersion)
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendVarint(b, PublicKeySize)
	b = ratchetKey.appendTo(b)
	b = appendVarintField(b, 2, uint64(counter))
	b = appendVarintField(b, 3, uint64(previousCounter))
	b = appendBytesField(b, 4, ciphertext)
	if len(pq) > 0 {
		b = appendBytesField(b, 5, pq)
	}
	if addresses != nil {
		b = appendBytesField(b, 6, addresses)
	}
	b = append(b, signalMAC(macKey, sender, receiver, b)...)
	return &SignalMessage{
		Version: version, RatchetKey: ratchetKey, Counter: counter, PreviousCounter: previousCounter,
		Ciphertext: ciphertext, PQRatchet: pq, Addresses: addresses, serialized: b,
	}
}

// signalMAC is the first 8 bytes of HMAC-SHA256 over the sender's and the
// receiver's serialized identity keys and the message bytes.
func signalMAC(macKey []byte, sender, receiver IdentityKey, msg []byte) []byte {
	h := hmac.New(sha256.New, macKey)
	var buf [2 * PublicKeySize]byte
	h.Write(receiver.appendTo(sender.appendTo(buf[:0])))
	h.Write(msg)
	return h.Sum(nil)[:macSize]
}

// verifyMAC checks the MAC over the bytes exactly as received.
func (m *SignalMessage) verifyMAC(macKey []byte, sender, receiver IdentityKey) bool {
	n := len(m.serialized) - macSize
	return subtle.ConstantTimeCompare(signalMAC(macKey, sender, receiver, m.serialized[:n]), m.serialized[n:]) == 1
}

// PreKeySignalMessage starts a session: the PQXDH material and the first
// SignalMessage.
type PreKeySignalMessage struct {
	Version         uint8
	RegistrationID  uint32
	PreKeyID        uint32
	HasPreKeyID     bool
	SignedPreKeyID  uint32
	KyberPreKeyID   uint32
	KyberCiphertext []byte
	BaseKey         PublicKey
	IdentityKey     IdentityKey
	Message         *SignalMessage

	serialized []byte
}

// Bytes returns the message as sent or received.
func (m *PreKeySignalMessage) Bytes() []byte { return m.serialized }

// ParsePreKeySignalMessage decodes a PreKeySignalMessage and the
// SignalMessage inside it.
func ParsePreKeySignalMessage(b []byte) (*PreKeySignalMessage, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty prekey message", ErrInvalidMessage)
	}
	v := b[0] >> 4
	if v < preKyberVersion || v > currentVersion {
		return nil, fmt.Errorf("%w: prekey message version %d", ErrVersion, v)
	}
	m := &PreKeySignalMessage{Version: v, serialized: clone(b)}
	var baseKey, identity, inner []byte
	var haveSigned, haveKyberID, haveKyberCT bool
	body := m.serialized[1:]
	for len(body) > 0 {
		f, n, err := nextField(body)
		if err != nil {
			return nil, fmt.Errorf("%w: prekey message: %w", ErrInvalidMessage, err)
		}
		body = body[n:]
		var want protowire.Type
		switch f.num {
		case 1:
			want = protowire.VarintType
			m.PreKeyID, m.HasPreKeyID = uint32(f.v), true
		case 2:
			want = protowire.BytesType
			baseKey = f.b
		case 3:
			want = protowire.BytesType
			identity = f.b
		case 4:
			want = protowire.BytesType
			inner = f.b
		case 5:
			want = protowire.VarintType
			m.RegistrationID = uint32(f.v)
		case 6:
			want = protowire.VarintType
			m.SignedPreKeyID, haveSigned = uint32(f.v), true
		case 7:
			want = protowire.VarintType
			m.KyberPreKeyID, haveKyberID = uint32(f.v), true
		case 8:
			want = protowire.BytesType
			m.KyberCiphertext, haveKyberCT = f.b, true
		default:
			continue
		}
		if err := wrongType(f, want); err != nil {
			return nil, fmt.Errorf("%w: prekey message: %w", ErrInvalidMessage, err)
		}
	}
	if baseKey == nil || identity == nil || inner == nil || !haveSigned {
		return nil, fmt.Errorf("%w: prekey message lacks a required field", ErrInvalidMessage)
	}
	var err error
	if m.BaseKey, err = ParsePublicKey(baseKey); err != nil {
		return nil, fmt.Errorf("%w: base key: %w", ErrInvalidMessage, err)
	}
	switch {
	case haveKyberID && haveKyberCT:
	case !haveKyberID && !haveKyberCT && v <= preKyberVersion:
	case !haveKyberID && !haveKyberCT:
		return nil, fmt.Errorf("%w: prekey message without a kyber prekey", ErrInvalidMessage)
	default:
		return nil, fmt.Errorf("%w: prekey message with only half the kyber payload", ErrInvalidMessage)
	}
	if m.IdentityKey, err = ParseIdentityKey(identity); err != nil {
		return nil, fmt.Errorf("%w: identity key: %w", ErrInvalidMessage, err)
	}
	if m.Message, err = ParseSignalMessage(inner); err != nil {
		return nil, err
	}
	return m, nil
}

func newPreKeySignalMessage(version uint8, regID uint32, preKeyID *uint32, signedID uint32, kyberID *uint32, kyberCT []byte,
	baseKey PublicKey, identity IdentityKey, msg *SignalMessage) *PreKeySignalMessage {
	b := make([]byte, 0, 1+2*PublicKeySize+len(kyberCT)+len(msg.serialized)+40)
	b = append(b, (version&0xF)<<4|currentVersion)
	m := &PreKeySignalMessage{Version: version, RegistrationID: regID, SignedPreKeyID: signedID,
		BaseKey: baseKey, IdentityKey: identity, Message: msg}
	if preKeyID != nil {
		b = appendVarintField(b, 1, uint64(*preKeyID))
		m.PreKeyID, m.HasPreKeyID = *preKeyID, true
	}
	b = appendBytesField(b, 2, baseKey.Bytes())
	b = appendBytesField(b, 3, identity.Bytes())
	b = appendBytesField(b, 4, msg.serialized)
	b = appendVarintField(b, 5, uint64(regID))
	b = appendVarintField(b, 6, uint64(signedID))
	if kyberID != nil {
		b = appendVarintField(b, 7, uint64(*kyberID))
		b = appendBytesField(b, 8, kyberCT)
		m.KyberPreKeyID, m.KyberCiphertext = *kyberID, kyberCT
	}
	m.serialized = b
	return m
}
