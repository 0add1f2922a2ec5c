package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// MaxExport bounds the export ExportAccount writes; REST answers are read
// into memory and bounded far lower, but an export holds every queued
// envelope and audit event of the account and is streamed instead.
const MaxExport = 256 << 20

// Erasure is the receipt of an account's erasure (DELETE /v1/account): the
// account's audit pseudonym, when it was erased, how many groups it left,
// the rows deleted by table, the attachment objects deleted, whether the
// server's files were purged, and the audit entry that records it. It names neither the account nor its number.
type Erasure struct {
	Subject            string           `json:"subject"`
	Erased             time.Time        `json:"erased"`
	GroupsLeft         int              `json:"groups_left"`
	RowsDeleted        map[string]int64 `json:"rows_deleted"`
	AttachmentsDeleted int64            `json:"attachments_deleted"`
	// Purged says whether the server's files were purged of the deleted
	// rows before it answered (else its next purge does it).
	Purged   bool  `json:"purged"`
	AuditSeq int64 `json:"audit_seq"`
}

// ExportAccount writes the export of everything the server holds about
// the account (GET /v1/account/export, schema "hush-export/1") to w, as
// the server sent it, and returns how many bytes it wrote. Only the
// primary device may call it: a linked one gets an *APIError with
// api.CodeForbidden. An answer larger than MaxExport is an error once
// MaxExport bytes were written. Each call is audited by the server.
func (c *Client) ExportAccount(ctx context.Context, w io.Writer) (int64, error) {
	k := call{method: http.MethodGet, path: "/v1/account/export", auth: true}
	// The failover of do, with the answer streamed instead of read whole.
	for tries := 1; ; tries++ {
		at := c.cur.Load()
		resp, err := c.send(ctx, k, nil)
		if nodeDown(resp, err) && ctx.Err() == nil && tries < len(c.bases) && c.failover(at) {
			if resp != nil {
				resp.Body.Close()
			}
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("%s %s: %w", k.method, k.path, err)
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return 0, c.answer(k, resp) // an *APIError
		}
		defer resp.Body.Close()
		n, err := io.Copy(w, io.LimitReader(resp.Body, MaxExport+1))
		switch {
		case err != nil:
			return n, fmt.Errorf("%s %s: read answer: %w", k.method, k.path, err)
		case n > MaxExport:
			return n, fmt.Errorf("%s %s: answer larger than %d bytes", k.method, k.path, MaxExport)
		}
		return n, nil
	}
}

// DeleteAccount erases the account at once (DELETE /v1/account) and
// returns the receipt: its devices, keys, queued envelopes, group
// memberships, attachments, push registrations and directory entry are
// gone, every socket of the account is closed, and every device
// credential, this one's included, stops working; the number may register
// again as a new account. Only the primary device may call it: a linked
// one gets an *APIError with api.CodeForbidden.
func (c *Client) DeleteAccount(ctx context.Context) (*Erasure, error) {
	var out Erasure
	if err := c.do(ctx, call{method: http.MethodDelete, path: "/v1/account", auth: true, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}
