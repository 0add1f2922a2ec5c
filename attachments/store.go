package attachments

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned for an attachment the store does not hold in the
// state asked for.
var ErrNotFound = errors.New("attachment not found")

// States of a record.
const (
	StateUploading = "uploading" // parts may still arrive
	StateReady     = "ready"     // complete and downloadable until Expires
	StateDeleting  = "deleting"  // its object is being deleted
)

// Record is what the server keeps about an attachment: no key, no name,
// no content type.
type Record struct {
	ID       string
	Owner    string // account id
	Size     int64  // ciphertext bytes
	UploadID string // the blob store's upload handle while uploading
	State    string
	Created  time.Time // to the day
	Expires  time.Time // the upload's deadline while uploading, else the attachment's
}

// Store keeps attachment records. Implementations: internal/sqlite,
// internal/postgres.
type Store interface {
	// CreateAttachment inserts a record in StateUploading.
	CreateAttachment(ctx context.Context, r Record) error
	// Attachment returns a record in any state, or ErrNotFound.
	Attachment(ctx context.Context, id string) (Record, error)
	// ReadyAttachment moves an uploading record to StateReady with a new
	// expiry; ErrNotFound unless it was uploading.
	ReadyAttachment(ctx context.Context, id string, expires time.Time) error
	// DeletingAttachment marks a record StateDeleting; when owner is not
	// empty only if the account owns it. ErrNotFound if no record matched.
	DeletingAttachment(ctx context.Context, id, owner string) error
	// DeletingAttachments marks every record of owner StateDeleting and
	// returns how many there were.
	DeletingAttachments(ctx context.Context, owner string) (int64, error)
	// DueAttachments returns up to limit records whose objects must go:
	// those deleting, and those uploading or ready whose Expires has passed.
	DueAttachments(ctx context.Context, now time.Time, limit int) ([]Record, error)
	// DeleteAttachment deletes a record, whatever its state.
	DeleteAttachment(ctx context.Context, id string) error
}
