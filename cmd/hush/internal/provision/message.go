package provision

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// IdentityPrivateKeySize is a curve25519 private key.
const IdentityPrivateKeySize = 32

// Message is what a primary gives a new device: the account, and the
// identity key pair every device of the account shares.
type Message struct {
	AccountID          string `json:"account_id"`
	Number             string `json:"number"`
	IdentityKeyPublic  []byte `json:"identity_key_public"`
	IdentityKeyPrivate []byte `json:"identity_key_private"`
	ProvisioningCode   string `json:"provisioning_code"`
}

// LogValue hides the private key and the provisioning code.
func (m Message) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account_id", m.AccountID),
		slog.String("number", m.Number),
		slog.String("identity_key_private", "REDACTED"),
		slog.String("provisioning_code", "REDACTED"),
	)
}

// String hides the private key and the provisioning code.
func (m Message) String() string {
	return fmt.Sprintf("provision.Message{account %s, number %s, secrets REDACTED}", m.AccountID, m.Number)
}

// Validate checks that every field is present and well-formed.
func (m *Message) Validate() error {
	switch {
	case m.AccountID == "":
		return fmt.Errorf("%w: no account_id", ErrContent)
	case m.Number == "":
		return fmt.Errorf("%w: no number", ErrContent)
	case checkPublicKey(m.IdentityKeyPublic) != nil:
		return fmt.Errorf("%w: identity_key_public must be %d bytes of type 0x05", ErrContent, PublicKeySize)
	case len(m.IdentityKeyPrivate) != IdentityPrivateKeySize:
		return fmt.Errorf("%w: identity_key_private must be %d bytes", ErrContent, IdentityPrivateKeySize)
	case m.ProvisioningCode == "":
		return fmt.Errorf("%w: no provisioning_code", ErrContent)
	}
	return nil
}

// SealMessage encrypts m to the device that showed code.
func SealMessage(code LinkCode, m *Message) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	plain, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode provisioning message: %w", err)
	}
	defer clear(plain)
	return Seal(code.PublicKey, plain)
}

// OpenMessage decrypts and checks a provisioning message sealed to e.
func (e *Ephemeral) OpenMessage(msg []byte) (*Message, error) {
	plain, err := e.Open(msg)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	var m Message
	if err := json.Unmarshal(plain, &m); err != nil {
		return nil, fmt.Errorf("%w: not JSON", ErrContent)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}
