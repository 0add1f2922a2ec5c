package gdpr

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned for an unknown token, request or account.
var ErrNotFound = errors.New("not found")

// ErrErasing is returned for an account whose erasure another call is
// carrying out right now.
var ErrErasing = errors.New("the account's erasure is under way")

// Roles of admin tokens.
const (
	RoleCompliance = "compliance"
	RoleOperator   = "operator"
)

// Token is an admin token as stored: its public id and the hash of its
// secret, never the secret.
type Token struct {
	ID      string
	Name    string
	Role    string
	Hash    []byte
	Created time.Time
	Revoked time.Time // zero while valid
}

// Entry is one audit log entry. Seq counts from 1 with no gaps; Hash is
// SHA-256 over Prev and the entry's fields (see hashEntry).
type Entry struct {
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`   // admin token id, "account" (self-service) or "system"
	Action  string    `json:"action"`  // e.g. "export", "erase", "request.create"
	Subject string    `json:"subject"` // a subject pseudonym, or ""
	Detail  string    `json:"detail"`  // JSON, never personal data beyond the pseudonym
	Prev    []byte    `json:"prev"`
	Hash    []byte    `json:"hash"`
}

// Request is a data-subject request as recorded.
type Request struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`    // access, portability, erasure
	Subject  string    `json:"subject"` // an E.164 number or an account id; a pseudonym once the account is erased
	Received time.Time `json:"received"`
	Due      time.Time `json:"due"`
	Status   string    `json:"status"` // open, done, rejected
	Closed   time.Time `json:"closed,omitzero"`
	Note     string    `json:"note,omitempty"`
}

// Store keeps tokens, requests and the audit log. Implementations:
// internal/sqlite, internal/postgres.
type Store interface {
	CreateAdminToken(ctx context.Context, t Token) error
	AdminToken(ctx context.Context, id string) (Token, error)
	AdminTokens(ctx context.Context) ([]Token, error)
	RevokeAdminToken(ctx context.Context, id string, at time.Time) error

	// AppendAudit appends e after the last entry, one append at a time:
	// it sets e.Seq and e.Prev from the last entry and e.Hash = seal(e).
	AppendAudit(ctx context.Context, e Entry, seal func(*Entry) []byte) (Entry, error)
	// AuditLog returns entries with Seq > after, in order, at most limit;
	// subject "" means every subject.
	AuditLog(ctx context.Context, subject string, after int64, limit int) ([]Entry, error)
	// Pseudonym returns the account's audit pseudonym, making one with
	// fresh when it has none.
	Pseudonym(ctx context.Context, account string, fresh func() string) (string, error)

	CreateRequest(ctx context.Context, r Request) error
	Requests(ctx context.Context) ([]Request, error)
	CloseRequest(ctx context.Context, id, status, note string, at time.Time) error
}

// AccountStore reads and erases whole accounts, across every domain's
// tables (one place per backend, with the schema).
type AccountStore interface {
	// ResolveSubject finds an account by its id or its phone number.
	ResolveSubject(ctx context.Context, subject string) (string, error)
	// ExportAccount reads everything held about an account but the audit
	// events (the service adds those).
	ExportAccount(ctx context.Context, account string) (*Export, error)
	// BeginErasure records that the account's erasure started, with the
	// pseudonym its audit entries keep, and blocks the account before
	// anything is deleted: its devices' credentials stop working, its
	// provisioning codes go, and from its return on no store call stores
	// an envelope the account sent (Insert skips those of an account that
	// is being erased or is gone; every insert that could have missed the
	// record has committed before BeginErasure returns, so EraseAccount
	// finds its envelopes). It returns false, changing nothing, while an
	// erasure of the account that started after staleBefore is recorded
	// (another call is carrying it out); an older one is taken over.
	// ErrNotFound: no such account, and no erasure of it recorded.
	BeginErasure(ctx context.Context, account, pseudonym string, now, staleBefore time.Time) (bool, error)
	// PendingErasures lists erasures that started and did not finish, by
	// account, with their pseudonyms.
	PendingErasures(ctx context.Context) (map[string]string, error)
	// EraseAccount deletes, in one transaction: the envelopes the account
	// sent that still wait in others' mailboxes, group notices naming it,
	// its number's pending registration code, the account row (devices,
	// keys, envelopes, directory entry, group memberships, push
	// registrations, pseudonym mapping and provisioning codes go with it;
	// its attachment records are marked for deletion) and the erasure
	// record; the subjects and notes of data-subject requests are passed
	// through redact (given the account's number, "" when it has none),
	// which replaces the account's id and number with its pseudonym. It
	// returns the rows it changed by table; for an account already gone
	// it only redacts and ends the record.
	EraseAccount(ctx context.Context, account string, redact func(number, text string) string) (map[string]int64, error)
	// Purge makes what erasures deleted unrecoverable from the store's
	// own files as far as the backend allows (docs/privacy.md): SQLite
	// checkpoints its write-ahead log into the database file, whose
	// freed space it zeroes, and truncates the log to nothing;
	// PostgreSQL vacuums the tables erasure deletes from.
	Purge(ctx context.Context) error

	// InactiveAccounts lists up to limit accounts with no activity (last
	// seen, or creation when never seen) before cutoff.
	InactiveAccounts(ctx context.Context, cutoff time.Time, limit int) ([]string, error)
	// InactiveDevices lists up to limit linked (not primary) devices
	// whose last-seen day is before cutoff.
	InactiveDevices(ctx context.Context, cutoff time.Time, limit int) ([]DeviceRef, error)
	// PruneAudit deletes audit entries older than cutoff, oldest first,
	// and returns how many.
	PruneAudit(ctx context.Context, cutoff time.Time) (int64, error)
}

// DeviceRef names one device.
type DeviceRef struct {
	Account string
	Device  uint32
}
