package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/gdpr"
	"github.com/hushmsg/hush/internal/client"
	"github.com/hushmsg/hush/internal/testkit"
)

// exportJSON is export --json's summary line.
type exportJSON struct {
	Path        string `json:"path"`
	Bytes       int64  `json:"bytes"`
	Schema      string `json:"schema"`
	AccountID   string `json:"account_id"`
	Number      string `json:"number"`
	Devices     int    `json:"devices"`
	Envelopes   int    `json:"queued_envelopes"`
	Groups      int    `json:"groups"`
	Attachments int    `json:"attachments"`
	Push        int    `json:"push_registrations"`
	Audit       int    `json:"audit_events"`
}

// erasureJSON is delete-account --json's line.
type erasureJSON struct {
	Erased  bool           `json:"erased"`
	Number  string         `json:"number"`
	Receipt client.Erasure `json:"receipt"`
	Removed []string       `json:"removed"`
	Kept    []string       `json:"kept"`
}

// homeFiles lists the names in a home (directories with a trailing /).
func homeFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	noErr(t, err)
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		names = append(names, n)
	}
	return names
}

// TestExportAndDeleteAccount runs export and delete-account against a real
// in-process server: the export from the primary holds the number, is
// private and never overwritten; a linked device may do neither; deletion
// needs the number typed, erases the account (the linked device's
// credential dies, the group is left), clears the home's state but keeps
// the user's files, and the same home registers the number again.
func TestExportAndDeleteAccount(t *testing.T) {
	c := newCLI(t)
	alice := c.register("alice1", 1)
	bob := c.register("bob", 2)
	c.run("bob", "send", alice, "waiting for alice") // a queued envelope
	c.link("alice2", "alice1")
	c.run("alice1", "group", "create", bob)
	aliceID := c.accountID("alice1")
	home := filepath.Join(c.homes, "alice1")

	// export: default file in the home, 0600, holding the number.
	r := c.run("alice1", "export")
	path := filepath.Join(home, "export-"+time.Now().Format(time.DateOnly)+".json")
	if !strings.Contains(r.stdout, path) { // the date may have turned
		path = strings.TrimSpace(strings.Split(strings.SplitN(r.stdout, " written to ", 2)[1], " (")[0])
	}
	fi, err := os.Stat(path)
	noErr(t, err)
	assert(t, fi.Mode().Perm() == 0o600, "export mode %v", fi.Mode().Perm())
	body, err := os.ReadFile(path)
	noErr(t, err)
	var e gdpr.Export
	noErr(t, json.Unmarshal(body, &e))
	assert(t, e.Schema == gdpr.ExportSchema && e.Account.Number == alice && e.Account.ID == aliceID && len(e.Devices) == 2 &&
		len(e.Envelopes) >= 1 && len(e.Groups) == 1, "export: schema %q account %+v devices %d envelopes %d groups %d",
		e.Schema, e.Account, len(e.Devices), len(e.Envelopes), len(e.Groups))
	summary := fmt.Sprintf("export of %s written to %s (%d bytes, mode 0600)\n"+
		"devices 2, queued envelopes %d, groups 1, attachments 0, push registrations 0, audit events %d\n",
		alice, path, len(body), len(e.Envelopes), len(e.Audit))
	assert(t, r.stdout == summary, "export printed %q, want %q", r.stdout, summary)

	// Never overwritten; --out elsewhere; --json.
	r = c.try("alice1", nil, "export")
	assert(t, r.code == exitError && strings.Contains(r.stderr, "exists; not overwriting it"), "second export: %+v", r)
	again, err := os.ReadFile(path)
	noErr(t, err)
	assert(t, bytes.Equal(again, body), "the export was overwritten")
	out := filepath.Join(t.TempDir(), "mine.json")
	sum := jsonOut[exportJSON](t, c.run("alice1", "export", "--out", out, "--json"))
	assert(t, sum.Path == out && sum.Number == alice && sum.AccountID == aliceID && sum.Schema == gdpr.ExportSchema &&
		sum.Devices == 2 && sum.Envelopes == len(e.Envelopes) && sum.Groups == 1 && sum.Bytes > 0, "export --json: %+v", sum)

	// A linked device can neither export nor delete.
	r = c.try("alice2", nil, "export", "--out", filepath.Join(t.TempDir(), "x.json"))
	assert(t, r.code == exitError && strings.Contains(r.stderr, "only the primary device (device 1) can export"), "export from alice2: %+v", r)
	r = c.try("alice2", nil, "delete-account", "--yes")
	assert(t, r.code == exitError && strings.Contains(r.stderr, "only the primary device (device 1) can delete"), "delete from alice2: %+v", r)

	// Not confirmed, or confirmed with another number: nothing happens.
	r = c.try("alice1", nil, "delete-account")
	assert(t, r.code == exitNeedInput && strings.Contains(r.stderr, "Type the account's phone number") &&
		strings.Contains(r.stderr, "not confirmed") && strings.Contains(r.stderr, "--yes"), "unconfirmed: %+v", r)
	r = c.try("alice1", strings.NewReader(bob+"\n"), "delete-account")
	assert(t, r.code == exitError && strings.Contains(r.stderr, "is not this account's number; nothing was deleted"), "wrong number: %+v", r)
	c.run("alice2", "devices")
	assert(t, slices.Contains(homeFiles(t, home), store.FileName), "the store went without confirmation")

	// The user's files in the home outlive the account.
	noErr(t, os.MkdirAll(filepath.Join(home, "downloads"), 0o700))
	noErr(t, os.WriteFile(filepath.Join(home, "downloads", "photo.jpg"), []byte("mine"), 0o600))
	noErr(t, os.WriteFile(filepath.Join(home, ".upload-123"), []byte("left by a crash"), 0o600))

	r = c.try("alice1", strings.NewReader(" +1 555 000 0001 \n"), "delete-account")
	assert(t, r.code == exitOK, "delete-account: %+v", r)
	for _, want := range []string{"account " + alice + " erased on the server", "subject", "groups left         1",
		"attachments deleted 0", "local state removed from " + home + ": hush.db", ".upload-123",
		"kept (not hush's state; delete them yourself if you wish): downloads/, " + filepath.Base(path)} {
		assert(t, strings.Contains(r.stdout, want), "delete-account printed %q, want %q", r.stdout, want)
	}
	assert(t, !strings.Contains(r.stdout, aliceID), "the receipt names the account: %q", r.stdout)
	files := homeFiles(t, home)
	assert(t, slices.Equal(files, []string{"downloads/", filepath.Base(path), "lock"}), "home after deletion: %q", files)

	// The server forgot the account: the linked device's credential is
	// dead, and bob no longer finds the number.
	r = c.try("alice2", nil, "devices")
	assert(t, r.code == exitError && strings.Contains(r.stderr, "unauthorized"), "alice2 after the erasure: %+v", r)
	r = c.try("bob", nil, "send", alice, "anyone there?")
	assert(t, r.code == exitError, "send to the erased number: %+v", r)
	r = c.try("alice1", nil, "devices")
	assert(t, r.code == exitError && strings.Contains(r.stderr, "no account in this home"), "devices in the wiped home: %+v", r)

	// The same home registers the number again, as a new account that
	// works.
	c.run("alice1", "register", alice, "--code", "111111")
	assert(t, c.accountID("alice1") != aliceID, "the new account has the old id")
	c.run("bob", "send", alice, "welcome back")
	got := c.receive("alice1")
	assert(t, bodies(ofKind(got, kindText)) == "welcome back", "alice1 got %+v", got)

	// --yes and --json, for scripts: bob's receipt names the group he
	// still had.
	r = c.run("bob", "delete-account", "--yes", "--json")
	er := jsonOut[erasureJSON](t, r)
	assert(t, strings.Contains(r.stdout, `"kept":[]`), "kept is not a list: %s", r.stdout)
	assert(t, er.Erased && er.Number == bob && er.Receipt.Subject != "" && !er.Receipt.Erased.IsZero() &&
		er.Receipt.GroupsLeft == 1 && er.Receipt.AuditSeq > 0 && slices.Contains(er.Removed, store.FileName) && len(er.Kept) == 0,
		"bob's erasure: %+v", er)
}

// TestWireTypesMatchTheServer decodes the server's own types with the
// client's: a renamed field fails here rather than printing zeros.
func TestWireTypesMatchTheServer(t *testing.T) {
	t.Parallel()
	assert(t, exportSchema == gdpr.ExportSchema, "schema %q, the server's %q", exportSchema, gdpr.ExportSchema)

	rc := gdpr.Receipt{Subject: "p-1", Erased: time.Unix(1700000000, 0).UTC(), Groups: 2,
		Rows: map[string]int64{"devices": 3}, Attachments: 4, AuditSeq: 5}
	b, err := json.Marshal(rc)
	noErr(t, err)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var got client.Erasure
	noErr(t, dec.Decode(&got))
	assert(t, got.Subject == "p-1" && got.Erased.Equal(rc.Erased) && got.GroupsLeft == 2 && got.RowsDeleted["devices"] == 3 &&
		got.AttachmentsDeleted == 4 && got.AuditSeq == 5, "receipt decoded as %+v", got)

	e := gdpr.Export{Schema: gdpr.ExportSchema, Account: gdpr.ExportAccount{ID: "acc", Number: "+15550000001"},
		Devices: make([]gdpr.ExportDevice, 1), Envelopes: make([]gdpr.ExportEnvelope, 2), Groups: make([]gdpr.ExportGroup, 3),
		Attachments: make([]gdpr.ExportAttachment, 4), Push: make([]gdpr.ExportPush, 5), Audit: make([]gdpr.Entry, 6)}
	b, err = json.Marshal(e)
	noErr(t, err)
	var sum exportSummary
	noErr(t, json.Unmarshal(b, &sum))
	assert(t, sum.Schema == gdpr.ExportSchema && sum.Account.ID == "acc" && sum.Account.Number == "+15550000001" &&
		len(sum.Devices) == 1 && len(sum.Envelopes) == 2 && len(sum.Groups) == 3 && len(sum.Attachments) == 4 &&
		len(sum.Push) == 5 && len(sum.Audit) == 6, "summary %+v", sum)
}

// fakeHome makes a home holding device dev of an account, for commands
// run against a fake server.
func fakeHome(t *testing.T, dev uint32) string {
	t.Helper()
	home := t.TempDir()
	st, err := store.Open(context.Background(), home)
	noErr(t, err)
	ident, err := newIdentity()
	noErr(t, err)
	noErr(t, st.CreateAccount(context.Background(), &store.Account{
		AccountID: "acc", DeviceID: dev, Password: "pw", Number: "+15550000001", Identity: ident, RegistrationID: 7,
	}))
	noErr(t, st.Close())
	return home
}

// TestFailuresLeaveNoTrace: an export cut short leaves no file, and a
// deletion the server did not confirm, or interrupted at its prompt,
// leaves the home as it was.
func TestFailuresLeaveNoTrace(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/account/export":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "1000")
			_, _ = w.Write([]byte(`{"schema":"hush-export/1","account":{`)) // then the connection ends
		case r.Method == http.MethodDelete && r.URL.Path == "/v1/account":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"code":"internal","message":"boom"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	home := fakeHome(t, 1)
	before := []string{store.FileName, "lock"}
	h := func(stdin string, args ...string) result {
		return hush(t, strings.NewReader(stdin), append([]string{"--server", srv.URL, "--home", home}, args...)...)
	}

	r := h("", "export")
	assert(t, r.code == exitError && strings.Contains(r.stderr, "export:"), "cut export: %+v", r)
	assert(t, slices.Equal(homeFiles(t, home), before), "a failed export left %q", homeFiles(t, home))

	r = h("+15550000001\n", "delete-account")
	assert(t, r.code == exitError && strings.Contains(r.stderr, "boom") && strings.Contains(r.stderr, "this home was left as it was"), "failed deletion: %+v", r)
	assert(t, slices.Equal(homeFiles(t, home), before), "a failed deletion changed the home: %q", homeFiles(t, home))

	// Ctrl-C at the prompt ends the command though stdin is still open.
	pr, pw := io.Pipe()
	defer pw.Close() // ends the read left waiting
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		e := &env{stdin: pr, stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
		done <- report(&errOut, run(ctx, []string{"--server", srv.URL, "--home", home, "delete-account"}, e))
	}()
	testkit.WaitFor(t, "the prompt", func() bool { return strings.Contains(errOut.String(), "Type the account's phone number") })
	cancel()
	assert(t, <-done == exitError && strings.Contains(errOut.String(), "hush: interrupted"), "interrupted prompt: %q", errOut.String())
	assert(t, slices.Equal(homeFiles(t, home), before), "an interrupted deletion changed the home: %q", homeFiles(t, home))

	st, err := store.Open(context.Background(), home)
	noErr(t, err)
	_, err = st.Account()
	noErr(t, st.Close())
	noErr(t, err)
}

// TestWipeHomeKeepsUserFiles: the store and hush's leftovers go; the
// lock, downloads/, exports and the user's own files stay.
func TestWipeHomeKeepsUserFiles(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	for _, name := range []string{"hush.db", "hush.db-wal", "hush.db-shm", ".download-1", ".upload-2", ".export-3.tmp",
		"lock", "export-2025-01-02.json", "notes.txt", "downloads/a.jpg"} {
		noErr(t, os.MkdirAll(filepath.Dir(filepath.Join(home, name)), 0o700))
		noErr(t, os.WriteFile(filepath.Join(home, name), []byte("secret "+name), 0o600))
	}
	w, err := wipeHome(home)
	noErr(t, err)
	assert(t, slices.Equal(w.removed, []string{"hush.db", "hush.db-wal", "hush.db-shm", ".upload-2", ".download-1", ".export-3.tmp"}), "removed %q", w.removed)
	assert(t, slices.Equal(w.kept, []string{"downloads" + string(filepath.Separator), "export-2025-01-02.json", "notes.txt"}), "kept %q", w.kept)
	assert(t, slices.Equal(homeFiles(t, home), []string{"downloads/", "export-2025-01-02.json", "lock", "notes.txt"}), "home %q", homeFiles(t, home))

	w, err = wipeHome(home) // nothing left to remove
	noErr(t, err)
	assert(t, len(w.removed) == 0, "second wipe removed %q", w.removed)
	b, err := os.ReadFile(filepath.Join(home, "downloads", "a.jpg"))
	assert(t, err == nil && string(b) == "secret downloads/a.jpg", "downloads/a.jpg: %q %v", b, err)
}
