package gdpr

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned for an unknown token, request or account.
var ErrNotFound = errors.New("not found")

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
	Subject  string    `json:"subject"` // as given: a phone number or an account id
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
	// pseudonym its audit entries keep (idempotent).
	BeginErasure(ctx context.Context, account, pseudonym string, now time.Time) error
	// PendingErasures lists erasures that started and did not finish.
	PendingErasures(ctx context.Context) (map[string]string, error)
	// EraseAccount deletes, in one transaction: the envelopes the account
	// sent that still wait in others' mailboxes, its registration code,
	// the account row (devices, keys, envelopes, directory entry, group
	// memberships, push registrations, pseudonym mapping and provisioning
	// codes go with it; its attachment records are marked for deletion),
	// the subject of its data-subject requests (replaced by the
	// pseudonym) and the erasure record. It returns the rows it deleted
	// by table; for an account already gone it only ends the record.
	EraseAccount(ctx context.Context, account, pseudonym string) (map[string]int64, error)

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
