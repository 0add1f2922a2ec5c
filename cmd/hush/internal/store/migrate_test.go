package store

import (
	"bytes"
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hushmsg/hush/internal/migrate"
	"github.com/hushmsg/hush/signal"
)

// OldHome writes a store as the client before migration 4 left it (the
// X3DH library's records), for device dev of account acct with identity
// id: one-time EC prekeys ecIDs and PQ prekeys pqIDs (and a last-resort
// one) whose private halves are opaque, a session and a sender key, a
// trusted identity of peer, and one message from peer in the history.
func OldHome(t testing.TB, dir, acct string, dev uint32, password, number string, id signal.IdentityKeyPair, reg uint32,
	ecIDs, pqIDs []uint32, peer string, peerKey []byte) {
	t.Helper()
	ctx := context.Background()
	old := fstest.MapFS{}
	err := fs.WalkDir(migrations, "migrations", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(filepath.Base(path), "0004") || filepath.Base(path) > "0004" {
			return err
		}
		b, err := fs.ReadFile(migrations, path)
		old[path] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(dir, FileName)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrate.Apply(ctx, db, old, "migrations"); err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO account (id, account_id, device_id, password, number, identity_public, identity_private, registration_id, created)
		VALUES (1, ?, ?, ?, ?, ?, ?, ?, 1)`, acct, dev, password, number, id.Public.Bytes(), id.Private.Bytes(), reg)
	exec(`INSERT INTO counters (name, next) VALUES ('prekey', 200), ('pq_prekey', 200), ('signed_prekey', 2)`)
	for _, k := range ecIDs {
		exec(`INSERT INTO prekeys (id, record) VALUES (?, ?)`, k, []byte(`{"old":"json record"}`))
	}
	exec(`INSERT INTO signed_prekeys (id, record) VALUES (1, ?)`, []byte(`{"old":"json record"}`))
	exec(`INSERT INTO pq_prekeys (id, public_key, signature, seed, last_resort, created) VALUES (150, x'08', x'00', x'00', 1, 1)`)
	for _, k := range pqIDs {
		exec(`INSERT INTO pq_prekeys (id, public_key, signature, seed, last_resort, created) VALUES (?, x'08', x'00', x'00', 0, 1)`, k)
	}
	if peer != "" {
		exec(`INSERT INTO sessions (account_id, device_id, record) VALUES (?, 1, ?)`, peer, []byte(`{"old":"session"}`))
		exec(`INSERT INTO sender_keys (group_id, account_id, device_id, record) VALUES ('g', ?, 1, x'01')`, peer)
		exec(`INSERT INTO identities (account_id, identity_key, first_seen, updated) VALUES (?, ?, 1, 1)`, peer, peerKey)
		exec(`INSERT INTO messages (envelope_id, direction, from_account, from_device, peer_account, kind, body, sent_at, server_timestamp, stored_at)
			VALUES ('env-old', 'in', ?, 1, ?, 'text', 'from before the upgrade', 5, 5, 5)`, peer, peer)
		exec(`INSERT INTO groups (group_id, version, member, updated) VALUES ('g', 1, 1, 1)`)
		exec(`INSERT INTO sender_key_sent (group_id, account_id, device_id, key_id) VALUES ('g', ?, 1, 7)`, peer)
	}
}

// TestMigrationToSignalRecords: a store of the X3DH client upgrades: the
// account, identities, history and groups stay; sessions, prekeys and
// sender keys go; the one-time keys the server may still hand out are
// listed for replacement and a key reset is pending.
func TestMigrationToSignalRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	id, err := signal.GenerateIdentityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	peerID, _ := signal.GenerateIdentityKeyPair(nil)
	const acct, peer = "8d3f7f3e-55a2-4c63-a8a4-0f5b3f6f1c11", "2b7e6c1a-9d1e-4c39-b4f5-6a1f0c8e9d22"
	OldHome(t, dir, acct, 2, "pw", "+15550000009", id, 77, []uint32{3, 4, 5}, []uint32{8, 9}, peer, peerID.Public.Bytes())

	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := s.Account()
	if err != nil || a.AccountID != acct || a.DeviceID != 2 || a.Password.Reveal() != "pw" || a.RegistrationID != 77 ||
		!a.Identity.Public.Equal(id.Public) || !bytes.Equal(a.Identity.Private.Bytes(), id.Private.Bytes()) {
		t.Fatalf("account after upgrade: %v, %v", a, err)
	}
	known, err := s.TrustedIdentity(ctx, peer)
	if err != nil || !bytes.Equal(known, peerID.Public.Bytes()) {
		t.Fatalf("peer identity after upgrade: %x, %v", known, err)
	}
	msgs, err := s.Messages(ctx, peer, 10)
	if err != nil || len(msgs) != 1 || msgs[0].Body != "from before the upgrade" {
		t.Fatalf("history after upgrade: %+v, %v", msgs, err)
	}
	g, err := s.Group(ctx, "g")
	if err != nil || g == nil || !g.Member || g.DistributionID != "" {
		t.Fatalf("group after upgrade: %+v, %v", g, err)
	}
	sent, err := s.SenderKeysSent(ctx, "g")
	if err != nil || len(sent) != 0 {
		t.Fatalf("sender keys sent after upgrade: %v, %v", sent, err)
	}
	devs, err := s.SessionDevices(ctx, peer)
	if err != nil || len(devs) != 0 {
		t.Fatalf("old sessions kept: %v, %v", devs, err)
	}
	if _, err := s.SignedPreKey(ctx, 1); err == nil {
		t.Fatal("old signed prekey kept")
	}
	ec, pq, err := s.CountPreKeys(ctx)
	if err != nil || ec != 0 || pq != 0 {
		t.Fatalf("old prekeys kept: %d %d %v", ec, pq, err)
	}
	r, err := s.PendingKeyReset(ctx)
	if err != nil || r == nil || len(r.StaleEC) != 3 || r.StaleEC[0] != 3 || len(r.StalePQ) != 2 || r.StalePQ[1] != 9 {
		t.Fatalf("key reset: %+v, %v", r, err)
	}
	ids, err := s.AllocateIDs(ctx, KindPreKey, 1)
	if err != nil || ids[0] != 200 {
		t.Fatalf("key ids start again: %v %v", ids, err)
	}
	if err := s.DoneStalePreKeys(ctx, "ec", []uint32{3, 4, 5}); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishKeyReset(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := s.PendingKeyReset(ctx); err != nil || r != nil {
		t.Fatalf("key reset after finishing: %+v, %v", r, err)
	}
}

// TestFreshStoreOwesNoKeyReset: a store made after the migration owes
// nothing.
func TestFreshStoreOwesNoKeyReset(t *testing.T) {
	t.Parallel()
	s, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r, err := s.PendingKeyReset(context.Background()); err != nil || r != nil {
		t.Fatalf("fresh store: %+v, %v", r, err)
	}
}
