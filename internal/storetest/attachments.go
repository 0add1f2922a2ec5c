package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hushmsg/hush/attachments"
)

// testAttachments walks records through their states: uploading, ready,
// deleting, due by expiry or marking, and deleted.
func testAttachments(t *testing.T, s Store) {
	ctx := context.Background()
	a, b := register(t, s, 1), register(t, s, 1)
	now := time.Unix(time.Now().Unix(), 0)
	rec := func(id, owner string, expires time.Time) attachments.Record {
		return attachments.Record{ID: id, Owner: owner, Size: 42, UploadID: "up-" + id, Created: now.Truncate(24 * time.Hour), Expires: expires}
	}
	check(t, s.CreateAttachment(ctx, rec("aaaaaaaaaaaaaaaaaaaaaa", a, now.Add(time.Hour))))
	check(t, s.CreateAttachment(ctx, rec("bbbbbbbbbbbbbbbbbbbbbb", a, now.Add(time.Hour))))
	check(t, s.CreateAttachment(ctx, rec("cccccccccccccccccccccc", b, now.Add(time.Hour))))
	if err := s.CreateAttachment(ctx, rec("cccccccccccccccccccccc", b, now)); err == nil {
		t.Fatal("a duplicate id was accepted")
	}

	got, err := s.Attachment(ctx, "aaaaaaaaaaaaaaaaaaaaaa")
	check(t, err)
	equal(t, "owner", got.Owner, a)
	equal(t, "state", got.State, attachments.StateUploading)
	equal(t, "upload id", got.UploadID, "up-aaaaaaaaaaaaaaaaaaaaaa")
	equal(t, "expires", got.Expires.Unix(), now.Add(time.Hour).Unix())
	if _, err := s.Attachment(ctx, "dddddddddddddddddddddd"); !errors.Is(err, attachments.ErrNotFound) {
		t.Fatalf("unknown attachment: %v", err)
	}

	check(t, s.ReadyAttachment(ctx, "aaaaaaaaaaaaaaaaaaaaaa", now.Add(48*time.Hour)))
	if err := s.ReadyAttachment(ctx, "aaaaaaaaaaaaaaaaaaaaaa", now); !errors.Is(err, attachments.ErrNotFound) {
		t.Fatalf("ready twice: %v", err)
	}
	got, err = s.Attachment(ctx, "aaaaaaaaaaaaaaaaaaaaaa")
	check(t, err)
	equal(t, "ready state", got.State, attachments.StateReady)

	due, err := s.DueAttachments(ctx, now, 10)
	check(t, err)
	equal(t, "due now", len(due), 0)
	// Two hours on, the unfinished uploads are due; the ready one is not.
	due, err = s.DueAttachments(ctx, now.Add(2*time.Hour), 10)
	check(t, err)
	equal(t, "due in two hours", len(due), 2)

	if err := s.DeletingAttachment(ctx, "cccccccccccccccccccccc", a); !errors.Is(err, attachments.ErrNotFound) {
		t.Fatalf("deleting another owner's: %v", err)
	}
	check(t, s.DeletingAttachment(ctx, "cccccccccccccccccccccc", b))
	n, err := s.DeletingAttachments(ctx, a)
	check(t, err)
	equal(t, "a's attachments marked", n, int64(2))
	due, err = s.DueAttachments(ctx, now, 10)
	check(t, err)
	equal(t, "marked are due at once", len(due), 3)
	for _, r := range due {
		equal(t, "due state", r.State, attachments.StateDeleting)
		check(t, s.DeleteAttachment(ctx, r.ID))
	}
	check(t, s.DeleteAttachment(ctx, "cccccccccccccccccccccc")) // again: no error
	equal(t, "records left", stat(t, s, "attachments"), 0)
}
