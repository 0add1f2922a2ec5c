package envelope

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// ErrNotFound is returned by a Store for an unknown account.
var ErrNotFound = errors.New("not found")

// Store keeps mailboxes. Implementations: internal/sqlite (and the
// PostgreSQL one).
type Store interface {
	// Recipients lists an account's devices, or ErrNotFound.
	Recipients(ctx context.Context, accountID string) ([]Recipient, error)
	// Insert commits every envelope in one transaction, skipping any whose
	// device no longer exists, and gives each a mailbox position (Seq)
	// greater than any committed before it in that mailbox. Envelopes with
	// the same Payload share one stored copy of their Content, kept while
	// any envelope refers to it (it may already exist from an earlier
	// Insert of the same send).
	Insert(ctx context.Context, envs []Stored) error
	// Fetch returns up to limit envelopes of a mailbox with Seq > after,
	// in Seq order.
	Fetch(ctx context.Context, accountID string, deviceID uint32, after int64, limit int) ([]Stored, error)
	// Ack deletes each acknowledged envelope from its mailbox, in one
	// transaction; an unknown id is no error.
	Ack(ctx context.Context, acks []AckKey) error
	// Count returns how many envelopes wait in all mailboxes.
	Count(ctx context.Context) (int64, error)
	// DeleteExpired deletes up to limit envelopes that expired before now
	// and returns how many it deleted.
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
}

// AckKey names one envelope in one mailbox.
type AckKey struct {
	AccountID string
	DeviceID  uint32
	ID        uuid.UUID
}

// Recipient is one device that can receive envelopes.
type Recipient struct {
	DeviceID       uint32
	RegistrationID uint32
}

// Stored is an envelope in a device's mailbox.
type Stored struct {
	Seq             int64 // mailbox position, set by the store
	AccountID       string
	DeviceID        uint32
	ID              uuid.UUID
	SourceAccount   string
	SourceDevice    uint32
	Type            int
	Content         []byte
	ServerTimestamp int64 // Unix milliseconds
	Expires         time.Time
	// Payload, when not zero, names the shared copy of Content that the
	// envelopes of one group send refer to; Group is that group's id.
	Payload uuid.UUID
	Group   string
}
