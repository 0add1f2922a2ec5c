package signal

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// PlaintextContent framing, as libsignal's protocol.rs: an identifier
// byte that keeps an arbitrary Content from being sent as plaintext, the
// protobuf Content holding only a decryption_error_message, and the
// padding boundary byte (no padding follows: these messages are all of
// one length anyway).
const (
	plaintextIdentifier = 0xC0
	paddingBoundary     = 0x80
	// contentDecryptionError is Content.decryption_error_message in
	// SignalService.proto.
	contentDecryptionError protowire.Number = 8
	// maxDecryptionErrorMessage bounds a DecryptionErrorMessage: a
	// 33-byte key, a timestamp and a device id take under 50 bytes.
	maxDecryptionErrorMessage = 256
)

// DecryptionErrorMessage tells the sender of a message that its recipient
// could not decrypt it, so that the sender archives the session (when
// RatchetKey names its current one) and sends again on a new one. Its
// serialized form is SignalService.proto's DecryptionErrorMessage; it
// travels unencrypted, in a PlaintextContent.
type DecryptionErrorMessage struct {
	// RatchetKey is the sender ratchet key of the 1:1 message that failed
	// (nil for a sender-key message, or when the message did not parse).
	RatchetKey *PublicKey
	// Timestamp identifies the failed message to its sender, in Unix
	// milliseconds.
	Timestamp uint64
	// DeviceID is the device that sent the failed message.
	DeviceID uint32

	serialized []byte
}

// DecryptionErrorForOriginal returns the DecryptionErrorMessage for a
// message that did not decrypt, as libsignal's
// DecryptionErrorMessage::for_original: original is the message as
// received, typ its ciphertext type. A 1:1 message must parse (its ratchet
// key is taken from it); a PlaintextContent is refused, since it was not
// encrypted.
func DecryptionErrorForOriginal(original []byte, typ CiphertextType, timestamp uint64, originalSenderDevice uint32) (*DecryptionErrorMessage, error) {
	var rk *PublicKey
	switch typ {
	case TypeWhisper:
		m, err := ParseSignalMessage(original)
		if err != nil {
			return nil, err
		}
		rk = &m.RatchetKey
	case TypePreKey:
		m, err := ParsePreKeySignalMessage(original)
		if err != nil {
			return nil, err
		}
		rk = &m.Message.RatchetKey
	case TypeSenderKey:
	case TypePlaintext:
		return nil, fmt.Errorf("%w: no decryption error for plaintext content: it is not encrypted", ErrInvalidArgument)
	default:
		return nil, fmt.Errorf("%w: ciphertext type %d", ErrInvalidArgument, typ)
	}
	return NewDecryptionErrorMessage(rk, timestamp, originalSenderDevice), nil
}

// NewDecryptionErrorMessage returns a DecryptionErrorMessage from its
// parts; ratchetKey may be nil.
func NewDecryptionErrorMessage(ratchetKey *PublicKey, timestamp uint64, deviceID uint32) *DecryptionErrorMessage {
	// Field order as prost writes it: ratchet_key = 1, timestamp = 2,
	// device_id = 3.
	var b []byte
	var rk *PublicKey
	if ratchetKey != nil {
		k := *ratchetKey
		rk = &k
		b = appendBytesField(b, 1, k.Bytes())
	}
	b = appendVarintField(b, 2, timestamp)
	b = appendVarintField(b, 3, uint64(deviceID))
	return &DecryptionErrorMessage{RatchetKey: rk, Timestamp: timestamp, DeviceID: deviceID, serialized: b}
}

// ParseDecryptionErrorMessage decodes a DecryptionErrorMessage. The
// timestamp is required; a ratchet key, when present, must be a valid
// public key.
func ParseDecryptionErrorMessage(b []byte) (*DecryptionErrorMessage, error) {
	if len(b) > maxDecryptionErrorMessage {
		return nil, fmt.Errorf("%w: decryption error message of %d bytes", ErrInvalidMessage, len(b))
	}
	m := &DecryptionErrorMessage{serialized: clone(b)}
	haveTimestamp := false
	err := walkFields(m.serialized, func(num protowire.Number, _ protowire.Type, v []byte, x uint64) error {
		switch num {
		case 1:
			k, err := ParsePublicKey(v)
			if err != nil {
				return fmt.Errorf("ratchet key: %w", err)
			}
			m.RatchetKey = &k
		case 2:
			m.Timestamp, haveTimestamp = x, true
		case 3:
			if x > 0xFFFFFFFF {
				return fmt.Errorf("%w: device id out of range", errProto)
			}
			m.DeviceID = uint32(x)
		}
		return nil
	}, map[protowire.Number]protowire.Type{1: protowire.BytesType, 2: protowire.VarintType, 3: protowire.VarintType})
	if err != nil {
		return nil, fmt.Errorf("%w: decryption error message: %w", ErrInvalidMessage, err)
	}
	if !haveTimestamp {
		return nil, fmt.Errorf("%w: decryption error message without a timestamp", ErrInvalidMessage)
	}
	return m, nil
}

// Bytes returns the serialized message.
func (m *DecryptionErrorMessage) Bytes() []byte { return m.serialized }

// PlaintextContent is a message sent without encryption (ciphertext type
// TypePlaintext); the only one there is carries a DecryptionErrorMessage.
type PlaintextContent struct {
	serialized []byte
}

// NewPlaintextContent wraps a DecryptionErrorMessage for sending, as
// libsignal's PlaintextContent::from.
func NewPlaintextContent(m *DecryptionErrorMessage) *PlaintextContent {
	b := []byte{plaintextIdentifier}
	b = appendBytesField(b, contentDecryptionError, m.serialized)
	b = append(b, paddingBoundary)
	return &PlaintextContent{serialized: b}
}

// ParsePlaintextContent checks the identifier byte of a received
// PlaintextContent.
func ParsePlaintextContent(b []byte) (*PlaintextContent, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty plaintext content", ErrInvalidMessage)
	}
	if b[0] != plaintextIdentifier {
		return nil, fmt.Errorf("%w: plaintext content identifier %#x", ErrVersion, b[0])
	}
	return &PlaintextContent{serialized: clone(b)}, nil
}

// Bytes returns the serialized message, identifier byte first.
func (p *PlaintextContent) Bytes() []byte { return p.serialized }

// Body returns the message without its identifier byte: a Content
// followed by the padding boundary byte.
func (p *PlaintextContent) Body() []byte { return p.serialized[1:] }

// DecryptionErrorMessage returns the DecryptionErrorMessage in the
// content's body, as libsignal's extract_decryption_error_message_from_
// serialized_content: the body must end with the padding boundary byte
// and hold a Content with a decryption_error_message.
func (p *PlaintextContent) DecryptionErrorMessage() (*DecryptionErrorMessage, error) {
	body := p.Body()
	if len(body) == 0 || body[len(body)-1] != paddingBoundary {
		return nil, fmt.Errorf("%w: plaintext content without its boundary byte", ErrInvalidMessage)
	}
	var dem []byte
	found := false
	err := walkFields(body[:len(body)-1], func(_ protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		dem, found = v, true
		return nil
	}, map[protowire.Number]protowire.Type{contentDecryptionError: protowire.BytesType})
	if err != nil {
		return nil, fmt.Errorf("%w: plaintext content: %w", ErrInvalidMessage, err)
	}
	if !found {
		return nil, fmt.Errorf("%w: plaintext content without a decryption error message", ErrInvalidMessage)
	}
	return ParseDecryptionErrorMessage(dem)
}
