package attachments

import (
	"context"
	"errors"
	"time"
)

// ErrNoUpload is returned by a blob store for an upload it does not know
// (finished, aborted or never begun).
var ErrNoUpload = errors.New("no such upload")

// Part is one stored part of an upload.
type Part struct {
	Number int
	Size   int64
	ETag   string
}

// Location is where and how a client sends or fetches bytes. URL is
// absolute, or relative to the server's base URL.
type Location struct {
	Method  string
	URL     string
	Headers map[string]string
	Expires time.Time
}

// Blobs is a blob store: the filesystem (FS) or S3. Keys are attachment
// ids. Every method is safe to repeat: deleting what is gone succeeds.
type Blobs interface {
	// Begin starts a multipart upload and returns its handle.
	Begin(ctx context.Context, key string) (uploadID string, err error)
	// PartLocation signs the upload of one part of exactly size bytes.
	PartLocation(ctx context.Context, key, uploadID string, part int, size int64, expires time.Time) (Location, error)
	// Parts lists the parts stored so far, by number.
	Parts(ctx context.Context, key, uploadID string) ([]Part, error)
	// Complete joins parts (numbers 1..len(parts), in order) into the
	// object key.
	Complete(ctx context.Context, key, uploadID string, parts []Part) error
	// Abort drops an unfinished upload and its parts.
	Abort(ctx context.Context, key, uploadID string) error
	// DownloadLocation signs a GET of the object.
	DownloadLocation(ctx context.Context, key string, expires time.Time) (Location, error)
	// Delete deletes the object.
	Delete(ctx context.Context, key string) error
}
