package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hushmsg/hush/gdpr"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
)

// statusCounts counts answers by status, safe for many goroutines.
type statusCounts struct {
	mu sync.Mutex
	n  map[int]int
}

func (c *statusCounts) add(status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[int]int{}
	}
	c.n[status]++
}

func (c *statusCounts) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.n)
}

// noServerErrors fails t for any 5xx in c.
func (c *statusCounts) noServerErrors(t *testing.T, what string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for status := range c.n {
		if status >= 500 {
			t.Errorf("%s: answers %v include a server error", what, c.n)
		}
	}
}

// TestSendsRacingErasure: the account sends from many goroutines while it
// erases itself; afterwards no envelope it sent is stored anywhere, and
// no send or the erasure answered with a server error.
func TestSendsRacingErasure(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice, bob := n.Register(t), n.Register(t)
	alice2 := n.Link(t, alice, 2)
	sock := n.Connect(t, alice2)
	var sends statusCounts
	var ok, tries atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				status, _, err := n.DoErr(alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("racing"), bob, alice2))
				if err != nil {
					t.Error(err)
					return
				}
				sends.add(status)
				tries.Add(1)
				if status == http.StatusOK {
					ok.Add(1)
				}
			}
		})
	}
	testkit.WaitFor(t, "sends before the erasure", func() bool { return ok.Load() >= 20 || t.Failed() })
	var rc gdpr.Receipt
	n.MustDo(t, alice, "DELETE", "/v1/account", nil, http.StatusOK, &rc)
	after := tries.Load()
	testkit.WaitFor(t, "sends after the erasure", func() bool { return tries.Load() >= after+40 || t.Failed() })
	stop.Store(true)
	wg.Wait()
	if status := sock.CloseStatus(); status == -1 {
		t.Error("the erased account's socket stayed open")
	}
	if _, resp, err := n.Dial(alice2); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a socket of the erased account opened: %v", err)
	}
	sends.noServerErrors(t, "sends")
	if found := traces(t, n, alice.AccountID, alice.Number); len(found) > 0 {
		t.Errorf("the erased account is still in %s (sends: %s)", strings.Join(found, ", "), sends.String())
	}
	equal(t, "bob still here", biStats(t, n)["accounts"], int64(1))
}

// TestConcurrentSelfErasure: the same account's DELETE /v1/account, many
// at once: one erases it, the others get a clean 401, 404 or 409.
func TestConcurrentSelfErasure(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	for range 3 {
		alice := n.Register(t)
		var answers statusCounts
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				status, body, err := n.DoErr(alice, "DELETE", "/v1/account", nil)
				if err != nil {
					t.Error(err)
					return
				}
				answers.add(status)
				if status != http.StatusOK {
					var e api.Error
					_ = json.Unmarshal(body, &e)
					want := map[int]string{http.StatusUnauthorized: api.CodeUnauthorized, http.StatusNotFound: api.CodeNotFound, http.StatusConflict: api.CodeErasing}[status]
					if want == "" || e.Code != want {
						t.Errorf("answer %d %s", status, body)
					}
				}
			})
		}
		wg.Wait()
		answers.mu.Lock()
		equal(t, "erasures that succeeded ("+fmt.Sprint(answers.n)+")", answers.n[http.StatusOK], 1)
		answers.mu.Unlock()
		if found := traces(t, n, alice.AccountID, alice.Number); len(found) > 0 {
			t.Errorf("the erased account is still in %s", strings.Join(found, ", "))
		}
	}
	equal(t, "erasures left unfinished", biStats(t, n)["erasures"], int64(0))
}

// TestConcurrentFirstExports: an account's first exports, at once (each
// makes its audit pseudonym if none exists yet), all succeed, under one
// pseudonym.
func TestConcurrentFirstExports(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	for range 3 {
		alice := n.Register(t)
		var answers statusCounts
		var mu sync.Mutex
		subjects := map[string]bool{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				status, body, err := n.DoErr(alice, "GET", "/v1/account/export", nil)
				if err != nil {
					t.Error(err)
					return
				}
				answers.add(status)
				var e gdpr.Export
				_ = json.Unmarshal(body, &e)
				mu.Lock()
				subjects[e.Account.AuditSubject] = true
				mu.Unlock()
			})
		}
		wg.Wait()
		answers.mu.Lock()
		equal(t, "exports that succeeded ("+fmt.Sprint(answers.n)+")", answers.n[http.StatusOK], 8)
		answers.mu.Unlock()
		equal(t, "pseudonyms", len(subjects), 1)
	}
}

// putCode stores a pending registration code for number, as a code
// request for a real number does (test numbers get none).
func putCode(t *testing.T, n *testkit.Node, number string) {
	t.Helper()
	const q = `INSERT INTO registration_codes (number, code_hash, expires, attempts) VALUES ($1, $2, 4102444800, 1)`
	hash := randomBytes(t, 32)
	if n.Cfg.DB == "" {
		db, err := sql.Open("sqlite", filepath.Join(n.DataDir, server.DBFile))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(strings.NewReplacer("$1", "?", "$2", "?").Replace(q), number, hash); err != nil {
			t.Fatal(err)
		}
		return
	}
	conn, err := pgx.Connect(t.Context(), n.Cfg.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), q, number, hash); err != nil {
		t.Fatal(err)
	}
}

// accountColumns are the column names that name an account (or its
// number) in the schema.
var accountColumns = map[string]bool{"account_id": true, "owner": true, "source_account": true, "number": true, "subject": true}

// accountTables lists the tables of the node's schema with a column that
// names an account.
func accountTables(t *testing.T, n *testkit.Node) []string {
	t.Helper()
	ctx := context.Background()
	seen := map[string]bool{}
	if n.Cfg.DB == "" {
		db, err := sql.Open("sqlite", filepath.Join(n.DataDir, server.DBFile))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.QueryContext(ctx, `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var table, col string
			if err := rows.Scan(&table, &col); err != nil {
				t.Fatal(err)
			}
			if accountColumns[col] {
				seen[table] = true
			}
		}
	} else {
		conn, err := pgx.Connect(ctx, n.Cfg.DB)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var table, col string
			if err := rows.Scan(&table, &col); err != nil {
				t.Fatal(err)
			}
			if accountColumns[col] {
				seen[table] = true
			}
		}
	}
	var out []string
	for table := range seen {
		out = append(out, table)
	}
	sort.Strings(out)
	return out
}

// TestExportCoversEveryTable walks the schema for every table with a
// column that names an account, and fails for one the export does not
// cover (gdpr.ExportTables): a new table cannot be forgotten. An account
// with data in each is then exported, and each covered part is checked
// to hold it.
func TestExportCoversEveryTable(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	officer, _, err := n.Node.GDPR.CreateToken(t.Context(), "cli", "officer", gdpr.RoleCompliance)
	if err != nil {
		t.Fatal(err)
	}
	tables := accountTables(t, n)
	if len(tables) < 10 {
		t.Fatalf("the schema walk found only %v", tables)
	}
	for _, table := range tables {
		if _, ok := gdpr.ExportTables[table]; !ok {
			t.Errorf("table %s names accounts and the export does not say how it covers it (gdpr.ExportTables)", table)
		}
	}
	for table := range gdpr.ExportTables {
		if !strings.Contains(" "+strings.Join(tables, " ")+" ", " "+table+" ") {
			t.Errorf("gdpr.ExportTables lists %s, which the schema does not have (or which names no account)", table)
		}
	}

	alice, bob, carol := n.Register(t), n.Register(t), n.Register(t)
	bob2 := n.Link(t, bob, 2)
	n.MustDo(t, bob, "PUT", "/v1/keys", api.SetKeys{PreKeys: []api.PreKey{{KeyID: 1, PublicKey: testkit.ECKey(t)}}}, http.StatusNoContent, nil)
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("to bob"), bob, bob2), http.StatusOK, nil)
	n.MustDo(t, bob, "POST", "/v1/messages", testkit.Send(alice.AccountID, []byte("from bob"), alice, bob2), http.StatusOK, nil)
	createGroup(t, n, bob, alice, carol)
	n.MustDo(t, bob, "POST", "/v1/attachments", api.NewAttachment{Size: 100}, http.StatusCreated, nil)
	n.MustDo(t, bob2, "PUT", "/v1/push", api.PushRegistration{Kind: api.PushWebPush, Endpoint: "https://push.example.org/p/x",
		P256DH: testkit.NewWebPushKey(t), Auth: make([]byte, 16)}, http.StatusNoContent, nil)
	putCode(t, n, bob.Number)
	n.MustDo(t, bob, "POST", "/v1/devices/provisioning_code", nil, http.StatusOK, nil)
	lockToken := bytes.Repeat([]byte{0x5a}, 32)
	n.MustDo(t, bob, "PUT", "/v1/account/registration-lock", api.SetRegistrationLock{Token: lockToken, Salt: bytes.Repeat([]byte{0xa5}, 32)}, http.StatusNoContent, nil)
	// The request names bob in another spelling: it is kept in E.164.
	spelled := bob.Number[:2] + " " + bob.Number[2:5] + " " + bob.Number[5:8] + "-" + bob.Number[8:]
	status, body := adminDo(t, n, officer, "POST", "/admin/v1/requests", gdpr.NewRequest{Kind: gdpr.KindAccess, Subject: spelled})
	equal(t, "request "+string(body), status, http.StatusCreated)

	status, body = adminDo(t, n, officer, "GET", "/admin/v1/accounts/"+strings.ReplaceAll(spelled, " ", "%20")+"/export", nil)
	equal(t, "export by a spelled number", status, http.StatusOK)
	var e gdpr.Export
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, c := range e.Codes {
		kinds[c.Kind] = true
	}
	parts := map[string]bool{
		"account":                   e.Account.ID == bob.AccountID,
		"account.phone_number":      e.Account.Number == bob.Number,
		"account.audit_subject":     strings.HasPrefix(e.Account.AuditSubject, "subj_"),
		"devices":                   len(e.Devices) == 2,
		"devices.signed_prekeys":    len(e.Devices[0].SignedPreKeys) > 0,
		"devices.one_time_prekeys":  e.Devices[0].OneTimePreKeys["ec"] > 0,
		"queued_envelopes":          len(e.Envelopes) > 0,
		"outbound_envelopes":        len(e.Outbound) > 0 && e.Outbound[0].Recipient == alice.AccountID && e.Outbound[0].Size > 0,
		"groups":                    len(e.Groups) == 1,
		"attachments":               len(e.Attachments) == 1,
		"push_registrations":        len(e.Push) == 1 && e.Push[0].Held != "",
		"pending_codes":             kinds["registration"] && kinds["provisioning"],
		"data_subject_requests":     len(e.Requests) == 1 && e.Requests[0].Subject == bob.Number,
		"audit_events":              len(e.Audit) > 0,
		"account.registration_lock": e.Account.RegistrationLock != nil && !e.Account.RegistrationLock.Created.IsZero(),
	}
	for table, covered := range gdpr.ExportTables {
		for part := range strings.SplitSeq(covered, ", ") {
			if part == "" {
				continue
			}
			held, known := parts[part]
			if !known {
				t.Errorf("table %s: the export part %q is not checked here", table, part)
			} else if !held {
				t.Errorf("table %s: the export's %s does not show it", table, part)
			}
		}
	}
	for _, secret := range []string{"push.example.org", "password", "code_hash", base64.StdEncoding.EncodeToString(lockToken)} {
		equal(t, "export holds "+secret, bytes.Contains(body, []byte(secret)), false)
	}
}

// TestErasureLeavesNoBytesInSQLiteFiles erases an account on a SQLite
// store and reads the database file and its write-ahead log as bytes:
// neither may hold its id, number, device name or push endpoint.
func TestErasureLeavesNoBytesInSQLiteFiles(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) { c.DB = "" })
	officer, _, err := n.Node.GDPR.CreateToken(t.Context(), "cli", "officer", gdpr.RoleCompliance)
	if err != nil {
		t.Fatal(err)
	}
	others := []*testkit.Device{n.Register(t), n.Register(t)}
	name := "device-name-" + hex.EncodeToString(randomBytes(t, 8))
	token := "push-token-" + hex.EncodeToString(randomBytes(t, 8))
	id := testkit.NewIdentity(t)
	keys := id.DeviceKeys(t, 1)
	keys.Name = name
	number := testkit.TestNumber()
	var creds api.Credentials
	n.MustDo(t, nil, "POST", "/v1/registration/verify", api.Verify{Number: number, Code: testkit.TestCode, IdentityKey: id.Public(), DeviceKeys: keys}, http.StatusOK, &creds)
	bob := &testkit.Device{Credentials: creds, Identity: id, RegistrationID: 1, Number: number}
	n.MustDo(t, bob, "PUT", "/v1/push", api.PushRegistration{Kind: api.PushWebPush, Endpoint: "https://push.example.org/" + token,
		P256DH: testkit.NewWebPushKey(t), Auth: make([]byte, 16)}, http.StatusNoContent, nil)
	for _, o := range others {
		n.MustDo(t, bob, "POST", "/v1/messages", testkit.Send(o.AccountID, []byte("from bob"), o), http.StatusOK, nil)
		n.MustDo(t, o, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("to bob"), bob), http.StatusOK, nil)
	}
	createGroup(t, n, bob, others...)
	status, _ := adminDo(t, n, officer, "POST", "/admin/v1/requests", gdpr.NewRequest{Kind: gdpr.KindErasure, Subject: number})
	equal(t, "request", status, http.StatusCreated)
	putCode(t, n, number)

	needles := map[string][]byte{"account id": []byte(bob.AccountID), "number": []byte(number), "device name": []byte(name), "push token": []byte(token)}
	files := []string{filepath.Join(n.DataDir, server.DBFile), filepath.Join(n.DataDir, server.DBFile+"-wal")}
	found := func() []string {
		var out []string
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			for what, needle := range needles {
				if bytes.Contains(b, needle) {
					out = append(out, what+" in "+filepath.Base(f))
				}
			}
		}
		sort.Strings(out)
		return out
	}
	// Before: everything is there (so the search below can find it).
	before := strings.Join(found(), ", ")
	for what := range needles {
		if !strings.Contains(before, what) {
			t.Fatalf("the %s is not in the files before the erasure (%s)", what, before)
		}
	}

	var rc gdpr.Receipt
	n.MustDo(t, bob, "DELETE", "/v1/account", nil, http.StatusOK, &rc)
	equal(t, "purged", rc.Purged, true)
	if f := found(); len(f) > 0 {
		t.Errorf("after the erasure: %s", strings.Join(f, ", "))
	}
	// The server goes on writing; the log then holds only what came after.
	n.MustDo(t, others[0], "POST", "/v1/messages", testkit.Send(others[1].AccountID, []byte("later"), others[1]), http.StatusOK, nil)
	if f := found(); len(f) > 0 {
		t.Errorf("after a later write: %s", strings.Join(f, ", "))
	}
}
