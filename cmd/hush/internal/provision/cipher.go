package provision

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log/slog"
)

// Version is the provisioning message format this package writes.
const Version byte = 1

const (
	info = "hush provisioning v1"
	// PublicKeySize is a serialized curve25519 public key: type || key.
	PublicKeySize = 33
	keyType       = 0x05
	nonceSize     = 12
	headerSize    = 1 + PublicKeySize + nonceSize
	tagSize       = 16
)

func checkPublicKey(b []byte) error {
	if len(b) != PublicKeySize || b[0] != keyType {
		return fmt.Errorf("key must be %d bytes of type 0x05, got %d bytes", PublicKeySize, len(b))
	}
	return nil
}

func serialize(pub *ecdh.PublicKey) []byte {
	return append([]byte{keyType}, pub.Bytes()...)
}

func parsePublic(b []byte) (*ecdh.PublicKey, error) {
	if err := checkPublicKey(b); err != nil {
		return nil, err
	}
	return ecdh.X25519().NewPublicKey(b[1:])
}

// Ephemeral is a new device's one-time provisioning key pair.
type Ephemeral struct {
	priv *ecdh.PrivateKey
}

// NewEphemeral makes a fresh key pair.
func NewEphemeral() (*Ephemeral, error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("provisioning key: %w", err)
	}
	return &Ephemeral{priv: k}, nil
}

// PublicKey returns the serialized public key (33 bytes).
func (e *Ephemeral) PublicKey() []byte { return serialize(e.priv.PublicKey()) }

// LinkCode returns the link code for address and this key.
func (e *Ephemeral) LinkCode(address string) LinkCode {
	return LinkCode{Address: address, PublicKey: e.PublicKey()}
}

// LogValue hides the private key.
func (e *Ephemeral) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// String hides the private key.
func (e *Ephemeral) String() string { return "provision.Ephemeral(REDACTED)" }

// aead derives the message key from a shared secret.
func aead(secret []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, info, 32)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext to the serialized public key recipient.
func Seal(recipient, plaintext []byte) ([]byte, error) {
	their, err := parsePublic(recipient)
	if err != nil {
		return nil, fmt.Errorf("provisioning recipient key: %w", err)
	}
	mine, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("provisioning key: %w", err)
	}
	secret, err := mine.ECDH(their)
	if err != nil {
		return nil, fmt.Errorf("provisioning key agreement: %w", err)
	}
	defer clear(secret)
	gcm, err := aead(secret)
	if err != nil {
		return nil, fmt.Errorf("provisioning cipher: %w", err)
	}
	out := make([]byte, headerSize, headerSize+len(plaintext)+tagSize)
	out[0] = Version
	copy(out[1:], serialize(mine.PublicKey()))
	nonce := out[1+PublicKeySize : headerSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(out, nonce, plaintext, nil), nil
}

// Open decrypts a provisioning message sealed to e.
func (e *Ephemeral) Open(msg []byte) ([]byte, error) {
	if len(msg) < 1 {
		return nil, ErrMalformed
	}
	if msg[0] != Version {
		return nil, fmt.Errorf("%w %d", ErrVersion, msg[0])
	}
	if len(msg) < headerSize+tagSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(msg))
	}
	their, err := parsePublic(msg[1 : 1+PublicKeySize])
	if err != nil {
		return nil, fmt.Errorf("%w: sender key: %v", ErrMalformed, err)
	}
	secret, err := e.priv.ECDH(their)
	if err != nil {
		return nil, fmt.Errorf("%w: sender key: %v", ErrMalformed, err)
	}
	defer clear(secret)
	gcm, err := aead(secret)
	if err != nil {
		return nil, fmt.Errorf("provisioning cipher: %w", err)
	}
	plain, err := gcm.Open(nil, msg[1+PublicKeySize:headerSize], msg[headerSize:], nil)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}
