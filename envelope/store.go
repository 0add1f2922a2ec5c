package envelope

import (
	"context"
	"errors"
	"math"
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
	// Insert of the same send). An envelope whose mailbox has no room
	// under q is not stored and is marked Full; nothing stored before is
	// touched.
	Insert(ctx context.Context, envs []Stored, q Quota) error
	// Fetch returns up to limit envelopes of a mailbox with Seq > after,
	// in Seq order.
	Fetch(ctx context.Context, accountID string, deviceID uint32, after int64, limit int) ([]Stored, error)
	// Ack deletes each acknowledged envelope from its mailbox, in one
	// transaction; an unknown id is no error. A store may use an ack's
	// position to find the envelope, so it must be right: an envelope
	// outside it may be left in place.
	Ack(ctx context.Context, acks []Acked) error
	// Count returns how many envelopes wait in all mailboxes.
	Count(ctx context.Context) (int64, error)
	// DeleteExpired deletes up to limit envelopes that expired before now
	// and returns how many it deleted.
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
}

// Quota bounds each mailbox (the unacknowledged envelopes of one device).
// An envelope is refused while its mailbox holds MaxEnvelopes envelopes or
// MaxBytes bytes of content (so the bytes may pass MaxBytes by at most one
// envelope). A store keeps a running count per mailbox that acks do not
// lower, so that a send costs no count of the mailbox; when that count
// reaches the quota, the store counts the mailbox again, at most once per
// Recount, and refuses in between. Zero fields bound nothing.
type Quota struct {
	MaxEnvelopes int64
	MaxBytes     int64
	Recount      time.Duration
}

// Bounded reports whether q bounds anything.
func (q Quota) Bounded() bool { return q.MaxEnvelopes > 0 || q.MaxBytes > 0 }

// Admits reports whether a mailbox holding count envelopes of bytes bytes
// has room for one more.
func (q Quota) Admits(count, bytes int64) bool {
	return (q.MaxEnvelopes <= 0 || count < q.MaxEnvelopes) && (q.MaxBytes <= 0 || bytes < q.MaxBytes)
}

// AckKey names one envelope in one mailbox.
type AckKey struct {
	AccountID string
	DeviceID  uint32
	ID        uuid.UUID
}

// Acked is an envelope its device acknowledged, with what its session knows
// of the envelope's mailbox position: exactly (Seq, for one fetched from
// the store), or only that it lies past After (one handed over before it
// was stored: its position, given at insert, is past every envelope the
// session had fetched). The position lets a store find the envelope by
// the mailbox's own order, in a range no wider than the session's window,
// whatever the store believes about the mailbox's size.
type Acked struct {
	AckKey
	Seq   int64 // its position, when known; else 0
	After int64 // with Seq 0: its position is greater than this
}

// Range returns the positions the envelope may have, inclusive.
func (a Acked) Range() (lo, hi int64) {
	if a.Seq > 0 {
		return a.Seq, a.Seq
	}
	return a.After + 1, math.MaxInt64
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
	// Full is set by Insert when the mailbox had no room: not stored.
	Full bool
}
