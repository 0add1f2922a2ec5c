package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/hushmsg/hush/gdpr"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
)

// traces walks every column of every table of the node's database and
// returns where one of needles (as text, or as the raw bytes of a uuid)
// appears.
func traces(t *testing.T, n *testkit.Node, needles ...string) []string {
	t.Helper()
	var raw [][]byte
	for _, s := range needles {
		raw = append(raw, []byte(s))
		if u, err := uuid.Parse(s); err == nil {
			raw = append(raw, u[:])
		}
	}
	var found []string
	look := func(table, col string, v []byte) {
		for _, r := range raw {
			if bytes.Contains(v, r) {
				found = append(found, table+"."+col)
				return
			}
		}
	}
	ctx := context.Background()
	if n.Cfg.DB == "" {
		db, err := sql.Open("sqlite", filepath.Join(n.DataDir, server.DBFile))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
		if err != nil {
			t.Fatal(err)
		}
		var tables []string
		for rows.Next() {
			var name string
			_ = rows.Scan(&name)
			tables = append(tables, name)
		}
		rows.Close()
		for _, table := range tables {
			rows, err := db.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				for i, v := range vals {
					look(table, cols[i], []byte(fmt.Sprint(v)))
					if b, ok := v.([]byte); ok {
						look(table, cols[i], b)
					}
				}
			}
			rows.Close()
		}
		return found
	}
	conn, err := pgx.Connect(ctx, n.Cfg.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	type column struct{ table, name, typ string }
	var cols []column
	for rows.Next() {
		var c column
		_ = rows.Scan(&c.table, &c.name, &c.typ)
		cols = append(cols, c)
	}
	rows.Close()
	for _, c := range cols {
		expr := `"` + c.name + `"::text`
		if c.typ == "bytea" {
			expr = `"` + c.name + `"`
		}
		rows, err := conn.Query(ctx, `SELECT `+expr+` FROM "`+c.table+`" WHERE "`+c.name+`" IS NOT NULL`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v []byte
			if c.typ == "bytea" {
				_ = rows.Scan(&v)
			} else {
				var s string
				_ = rows.Scan(&s)
				v = []byte(s)
			}
			look(c.table, c.name, v)
		}
		rows.Close()
	}
	return found
}

// TestExportAndErase gives an account every kind of data, exports it,
// erases it, and walks the whole schema and the blob store for any trace.
func TestExportAndErase(t *testing.T) {
	t.Parallel()
	eachBlobStore(t, nil, func(t *testing.T, b *blobBackend) {
		n := b.n
		officer, _, err := n.Node.GDPR.CreateToken(t.Context(), "cli", "officer", gdpr.RoleCompliance)
		if err != nil {
			t.Fatal(err)
		}
		alice, bob, carol := n.Register(t), n.Register(t), n.Register(t)
		bob2 := n.Link(t, bob, 2)
		if code, body := n.Do(t, bob, "PUT", "/v1/keys", api.SetKeys{PreKeys: []api.PreKey{{KeyID: 1, PublicKey: testkit.ECKey(t)}}}); code/100 != 2 {
			t.Fatalf("upload prekeys: %d %s", code, body)
		}
		// Envelopes both ways, waiting; a group bob created; an
		// attachment; a push registration; a visible last seen.
		n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("to bob"), bob, bob2), http.StatusOK, nil)
		n.MustDo(t, bob, "POST", "/v1/messages", testkit.Send(alice.AccountID, []byte("from bob"), alice, bob2), http.StatusOK, nil)
		g := createGroup(t, n, bob, alice, carol)
		n.MustDo(t, bob, "POST", "/v1/groups/"+g.GroupID+"/messages", groupSend([]byte("to the group"), bob2, alice, carol), http.StatusOK, nil)
		var up api.Upload
		n.MustDo(t, bob, "POST", "/v1/attachments", api.NewAttachment{Size: 100}, http.StatusCreated, &up)
		equal(t, "put", putPart(t, n, up.Parts[0], randomBytes(t, 100)), http.StatusOK)
		n.MustDo(t, bob, "POST", "/v1/attachments/"+up.ID+"/complete", nil, http.StatusOK, nil)
		n.MustDo(t, bob2, "PUT", "/v1/push", api.PushRegistration{Kind: api.PushWebPush, Endpoint: "https://push.example.org/p/" + bob.AccountID,
			P256DH: testkit.NewWebPushKey(t), Auth: make([]byte, 16)}, http.StatusNoContent, nil)
		n.MustDo(t, bob, "PUT", "/v1/account/privacy", api.Privacy{LastSeen: api.VisibleEveryone}, http.StatusOK, nil)
		status, _ := adminDo(t, n, officer, "POST", "/admin/v1/requests", gdpr.NewRequest{Kind: gdpr.KindErasure, Subject: bob.Number})
		equal(t, "request", status, http.StatusCreated)

		// The export holds every kind.
		status, body := adminDo(t, n, officer, "GET", "/admin/v1/accounts/"+bob.Number+"/export", nil)
		equal(t, "export status", status, http.StatusOK)
		var e gdpr.Export
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatal(err)
		}
		equal(t, "schema", e.Schema, gdpr.ExportSchema)
		equal(t, "number", e.Account.Number, bob.Number)
		equal(t, "identity key", len(e.Account.IdentityKey) > 0, true)
		equal(t, "last seen setting", e.Account.LastSeenVisibility, api.VisibleEveryone)
		equal(t, "devices", len(e.Devices), 2)
		equal(t, "signed prekeys", len(e.Devices[0].SignedPreKeys), 2)
		equal(t, "one-time prekeys", e.Devices[0].OneTimePreKeys["ec"] > 0, true)
		equal(t, "queued envelopes (2 + group notices + group message)", len(e.Envelopes) >= 3, true)
		equal(t, "groups", len(e.Groups), 1)
		equal(t, "group role", e.Groups[0].Role, api.RoleAdmin)
		equal(t, "attachments", len(e.Attachments), 1)
		equal(t, "push registrations", len(e.Push), 1)
		equal(t, "no push token in the export", bytes.Contains(body, []byte("push.example.org")), false)
		equal(t, "audit events", len(e.Audit) > 0, true)
		equal(t, "last seen", e.Account.LastSeen.IsZero(), false)

		// The account holder's own export, from the primary only.
		code, self := n.Do(t, bob, "GET", "/v1/account/export", nil)
		equal(t, "self export", code, http.StatusOK)
		equal(t, "self export has the number", bytes.Contains(self, []byte(bob.Number)), true)
		n.Expect(t, bob2, "GET", "/v1/account/export", nil, http.StatusForbidden, api.CodeForbidden)

		// Erase, with the confirmation typed.
		status, _ = adminDo(t, n, officer, "POST", "/admin/v1/accounts/"+bob.Number+"/erase", gdpr.EraseBody{Confirm: "yes"})
		equal(t, "erase without confirmation", status, http.StatusBadRequest)
		status, body = adminDo(t, n, officer, "POST", "/admin/v1/accounts/"+bob.Number+"/erase", gdpr.EraseBody{Confirm: bob.Number})
		equal(t, "erase "+string(body), status, http.StatusOK)
		var rc gdpr.Receipt
		_ = json.Unmarshal(body, &rc)
		equal(t, "groups left", rc.Groups, 1)
		equal(t, "attachments deleted", rc.Attachments, int64(1))
		equal(t, "accounts deleted", rc.Rows["accounts"], int64(1))
		status, _ = adminDo(t, n, officer, "POST", "/admin/v1/accounts/"+bob.Number+"/erase", gdpr.EraseBody{Confirm: bob.Number})
		equal(t, "erase again: no such account", status, http.StatusNotFound)

		if found := traces(t, n, bob.AccountID, bob.Number); len(found) > 0 {
			t.Errorf("the erased account is still in: %s", strings.Join(found, ", "))
		}
		_, hasObject := b.objects(t)[up.ID]
		equal(t, "attachment object gone", hasObject, false)
		equal(t, "unfinished uploads", b.uploads(t), 0)
		n.Expect(t, bob, "GET", "/v1/devices", nil, http.StatusUnauthorized, api.CodeUnauthorized)
		nv, err := n.Node.GDPR.Verify(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "audit chain verifies", nv > 0, true)
		entries, _ := n.Node.GDPR.Log(t.Context(), rc.Subject, 0, 100)
		erased := false
		for _, e := range entries {
			erased = erased || e.Action == "erase" && e.Seq == rc.AuditSeq
		}
		equal(t, "the erasure is in the audit log under the pseudonym", erased, true)

		// The group goes on: carol is told, without bob's id.
		var gv api.Group
		n.MustDo(t, carol, "GET", "/v1/groups/"+g.GroupID, nil, http.StatusOK, &gv)
		equal(t, "members left", len(gv.Members), 2)
		equal(t, "an heir is admin", gv.Members[0].Role == api.RoleAdmin || gv.Members[1].Role == api.RoleAdmin, true)

		// The number registers again as a new account.
		again := n.RegisterNumber(t, bob.Number, testkit.TestCode)
		equal(t, "a new account", again.AccountID != bob.AccountID, true)

		// Carol erases herself from her primary device.
		var self2 gdpr.Receipt
		n.MustDo(t, carol, "DELETE", "/v1/account", nil, http.StatusOK, &self2)
		if found := traces(t, n, carol.AccountID, carol.Number); len(found) > 0 {
			t.Errorf("carol is still in: %s", strings.Join(found, ", "))
		}
	})
}

// TestRetention: linked devices and accounts inactive past their limits
// go, old audit entries are pruned, and the chain left still verifies.
func TestRetention(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	day := int64(24 * time.Hour)
	n := testkit.Start(t, "", func(c *server.Config) {
		c.GDPR.Clock = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	alice := n.Register(t)
	alice2 := n.Link(t, alice, 2)
	if err := n.Node.GDPR.Audit(t.Context(), "system", "test", "", nil); err != nil {
		t.Fatal(err)
	}
	retain := func() map[string]int64 {
		t.Helper()
		got, err := n.Node.GDPR.Retain(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	equal(t, "nothing due today", fmt.Sprint(retain()), "map[audit_entries:0]")

	skew.Store(200 * day)
	equal(t, "after 200 days", fmt.Sprint(retain()), "map[audit_entries:0 devices:1]")
	n.Expect(t, alice2, "GET", "/v1/devices", nil, http.StatusUnauthorized, api.CodeUnauthorized)

	skew.Store(400 * day)
	equal(t, "after 400 days", fmt.Sprint(retain()), "map[accounts:1 audit_entries:0]")
	if found := traces(t, n, alice.AccountID, alice.Number); len(found) > 0 {
		t.Errorf("the expired account is still in: %s", strings.Join(found, ", "))
	}

	before, err := n.Node.GDPR.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	skew.Store(4 * 365 * day)
	if err := n.Node.GDPR.Audit(t.Context(), "system", "later", "", nil); err != nil {
		t.Fatal(err)
	}
	// Older than three years now: the test entry (day 0) and the device's
	// expiry (day 200); the erasure (day 400) and the new entry stay.
	got := retain()
	equal(t, "audit entries pruned", got["audit_entries"], before-1)
	after, err := n.Node.GDPR.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "entries left, still a chain", after, int64(2))
}

// TestErasureResumesAfterACrash: an erasure recorded but not carried out
// (the node died right after recording it) finishes when a node starts.
func TestErasureResumesAfterACrash(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice, bob := n.Register(t), n.Register(t)
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("x"), bob), http.StatusOK, nil)
	n.Stop()
	// What Erase records first, as a crash would leave it.
	const record = `INSERT INTO erasures (account_id, pseudonym, started) VALUES ($1, 'subj_crashed', 0)`
	if n.Cfg.DB == "" {
		db, err := sql.Open("sqlite", filepath.Join(n.DataDir, server.DBFile))
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.Exec(strings.Replace(record, "$1", "?", 1), bob.AccountID)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
	} else {
		conn, err := pgx.Connect(t.Context(), n.Cfg.DB)
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Exec(t.Context(), record, bob.AccountID)
		conn.Close(t.Context())
		if err != nil {
			t.Fatal(err)
		}
	}
	n2 := testkit.StartConfig(t, n.Cfg)
	testkit.WaitFor(t, "the erasure finished", func() bool { return biStats(t, n2)["erasures"] == 0 })
	if found := traces(t, n2, bob.AccountID, bob.Number); len(found) > 0 {
		t.Errorf("bob is still in: %s", strings.Join(found, ", "))
	}
	equal(t, "alice stays", biStats(t, n2)["accounts"], int64(1))
	entries, _ := n2.Node.GDPR.Log(t.Context(), "subj_crashed", 0, 10)
	equal(t, "receipt under the recorded pseudonym", len(entries) == 1 && entries[0].Action == "erase" && entries[0].Actor == "system", true)
}
