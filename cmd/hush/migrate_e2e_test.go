package main

import (
	"bytes"
	"context"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
	"github.com/hushmsg/hush/internal/migrate"
	"github.com/hushmsg/hush/signal"
)

// oldHome writes, in dir, the store the client kept before migration 4
// (its schema up to migration 3, the X3DH library's records as opaque
// blobs) for device 1 of an account: credentials and identity, one-time
// EC prekeys ecIDs and PQ prekeys pqIDs the server holds, a session with
// peer, peer's trusted identity and a message from peer.
func oldHome(t *testing.T, dir string, creds *api.Credentials, number string, id signal.IdentityKeyPair, reg uint32,
	ecIDs, pqIDs []uint32, peer string, peerKey []byte) {
	t.Helper()
	ctx := context.Background()
	old := fstest.MapFS{}
	files, err := filepath.Glob(filepath.Join("internal", "store", "migrations", "000[123]_*.sql"))
	noErr(t, err)
	assert(t, len(files) == 3, "old migrations %v", files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		noErr(t, err)
		old["migrations/"+filepath.Base(f)] = &fstest.MapFile{Data: b}
	}
	noErr(t, os.MkdirAll(dir, 0o700))
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(dir, store.FileName)))
	noErr(t, err)
	defer db.Close()
	noErr(t, migrate.Apply(ctx, db, fs.FS(old), "migrations"))
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := db.ExecContext(ctx, q, args...)
		noErr(t, err)
	}
	exec(`INSERT INTO account (id, account_id, device_id, password, number, identity_public, identity_private, registration_id, created)
		VALUES (1, ?, ?, ?, ?, ?, ?, ?, 1)`, creds.AccountID, creds.DeviceID, creds.Password, number, id.Public.Bytes(), id.Private.Bytes(), reg)
	exec(`INSERT INTO counters (name, next) VALUES ('prekey', 200), ('pq_prekey', 200), ('signed_prekey', 2)`)
	for _, k := range ecIDs {
		exec(`INSERT INTO prekeys (id, record) VALUES (?, ?)`, k, []byte(`{"old":"record"}`))
	}
	exec(`INSERT INTO signed_prekeys (id, record) VALUES (1, ?)`, []byte(`{"old":"record"}`))
	exec(`INSERT INTO pq_prekeys (id, public_key, signature, seed, last_resort, created) VALUES (150, x'08', x'00', x'00', 1, 1)`)
	for _, k := range pqIDs {
		exec(`INSERT INTO pq_prekeys (id, public_key, signature, seed, last_resort, created) VALUES (?, x'08', x'00', x'00', 0, 1)`, k)
	}
	exec(`INSERT INTO sessions (account_id, device_id, record) VALUES (?, 1, ?)`, peer, []byte(`{"old":"session"}`))
	exec(`INSERT INTO identities (account_id, identity_key, first_seen, updated) VALUES (?, ?, 1, 1)`, peer, peerKey)
	exec(`INSERT INTO messages (envelope_id, direction, from_account, from_device, peer_account, kind, body, sent_at, server_timestamp, stored_at)
		VALUES ('env-old', 'in', ?, 1, ?, 'text', 'from before the upgrade', 5, 5, 5)`, peer, peer)
}

// TestOldHomeUpgrades: a home of the X3DH client upgrades on its next
// start. It keeps the account and the history, uploads a new signed
// prekey and Kyber last-resort key, and replaces on the server the
// one-time keys it can no longer use (same ids, new keys), so that a
// contact who claims one starts a session that works; the two talk both
// ways.
func TestOldHomeUpgrades(t *testing.T) {
	c := newCLI(t)
	ctx := context.Background()
	bob := c.register("bob", 2)
	bobAcct := c.account("bob")

	// alice registered with the old client: the server holds her signed
	// and last-resort keys and one-time keys 3..5 and 8..9, whose private
	// halves only the old records had.
	id, err := newIdentity()
	noErr(t, err)
	anon, err := client.New(client.Config{BaseURL: c.url})
	noErr(t, err)
	spk, err := signal.GenerateSignedPreKey(id, 1, time.Now(), nil)
	noErr(t, err)
	last, err := signal.GenerateKyberPreKey(id, 150, time.Now(), nil)
	noErr(t, err)
	creds, err := anon.Verify(ctx, &api.Verify{Number: "+15550000001", Code: "111111", IdentityKey: id.Public.Bytes(),
		DeviceKeys: api.DeviceKeys{RegistrationID: 77, SignedPreKey: signedAPI(spk), PQLastResortPreKey: kyberAPI(last)}})
	noErr(t, err)
	alice := anon.WithCredentials(client.Credentials{AccountID: creds.AccountID, DeviceID: creds.DeviceID, Password: creds.Password})
	set := &api.SetKeys{}
	for _, k := range []uint32{3, 4, 5} {
		pk, err := signal.GeneratePreKey(k, nil)
		noErr(t, err)
		set.PreKeys = append(set.PreKeys, api.PreKey{KeyID: k, PublicKey: pk.KeyPair.Public.Bytes()})
	}
	for _, k := range []uint32{8, 9} {
		kk, err := signal.GenerateKyberPreKey(id, k, time.Now(), nil)
		noErr(t, err)
		set.PQPreKeys = append(set.PQPreKeys, kyberAPI(kk))
	}
	noErr(t, alice.SetKeys(ctx, set))
	oldHome(t, filepath.Join(c.homes, "alice"), creds, "+15550000001", id, 77, []uint32{3, 4, 5}, []uint32{8, 9},
		bobAcct.AccountID, bobAcct.Identity.Public.Bytes())

	// The first start upgrades the store and pays the key reset.
	// The old client made its files 0644; the first start tightens them.
	r := c.run("alice", "receive")
	stderr := strings.TrimSpace(regexp.MustCompile(`hush: made \d+ entries of the home directory private to you \(0700, 0600\)`).ReplaceAllString(r.stderr, ""))
	assert(t, stderr == "", "alice's first start: %q", r.stderr)
	who := jsonOut[map[string]any](t, c.run("alice", "whoami", "--json"))
	assert(t, who["account_id"] == creds.AccountID, "whoami after the upgrade: %v", who)
	assert(t, c.historyBodies("alice", bobAcct.AccountID) == "from before the upgrade", "history after the upgrade: %q", c.historyBodies("alice", bobAcct.AccountID))

	// Every key the server hands out for alice now is one she holds.
	st, err := store.Open(ctx, filepath.Join(c.homes, "alice"))
	noErr(t, err)
	r2, err := st.PendingKeyReset(ctx)
	noErr(t, err)
	assert(t, r2 == nil, "key reset still pending: %+v", r2)
	asBob := anon.WithCredentials(client.Credentials{AccountID: bobAcct.AccountID, DeviceID: bobAcct.DeviceID, Password: bobAcct.Password.Reveal()})
	seen := map[uint32]bool{}
	for range 3 {
		b, err := asBob.Bundle(ctx, creds.AccountID, client.AllDevices)
		noErr(t, err)
		d := b.Devices[0]
		spk, err := st.SignedPreKey(ctx, d.SignedPreKey.KeyID)
		noErr(t, err)
		assert(t, bytes.Equal(spk.KeyPair.Public.Bytes(), d.SignedPreKey.PublicKey) && d.SignedPreKey.KeyID != 1, "signed prekey %d not replaced", d.SignedPreKey.KeyID)
		assert(t, d.PreKey != nil, "no one-time prekey handed out")
		pk, err := st.PreKey(ctx, d.PreKey.KeyID)
		noErr(t, err)
		assert(t, bytes.Equal(pk.KeyPair.Public.Bytes(), d.PreKey.PublicKey), "one-time prekey %d is not one alice holds", d.PreKey.KeyID)
		kk, err := st.KyberPreKey(ctx, d.PQPreKey.KeyID)
		noErr(t, err)
		assert(t, bytes.Equal(kk.KeyPair.Public.Bytes(), d.PQPreKey.PublicKey) && d.PQPreKey.KeyID != 150, "kyber prekey %d is not one alice holds", d.PQPreKey.KeyID)
		seen[d.PreKey.KeyID] = true
	}
	noErr(t, st.Close())
	assert(t, seen[3] || seen[4] || seen[5], "none of the replaced ids was handed out: %v", seen)

	// bob (who had a session with her old device) and alice talk again.
	c.run("bob", "send", "+15550000001", "are you upgraded?")
	got := c.receive("alice")
	assert(t, bodies(got) == "are you upgraded?", "alice got %+v", got)
	c.run("alice", "send", bob, "yes")
	assert(t, bodies(ofKind(c.receive("bob"), kindText)) == "yes", "bob missed alice's answer")
	assert(t, strings.HasPrefix(c.historyBodies("alice", bobAcct.AccountID), "from before the upgrade|"), "history %q", c.historyBodies("alice", bobAcct.AccountID))
}

// account reads dev's account from its store while no command runs.
func (c *cli) account(dev string) *store.Account {
	c.t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(c.homes, dev))
	noErr(c.t, err)
	defer st.Close()
	a, err := st.Account()
	noErr(c.t, err)
	return a
}
