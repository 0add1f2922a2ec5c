package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
)

// exportSchema is the export format this client summarises (docs/admin.md).
const exportSchema = "hush-export/1"

// exportSummary is what export reads back from the file it wrote: who the
// export is about and how many items each section holds. Elements decode
// into empty structs, so only the counts are kept in memory.
type exportSummary struct {
	Schema  string `json:"schema"`
	Account struct {
		ID     string `json:"id"`
		Number string `json:"phone_number"`
	} `json:"account"`
	Devices     []struct{} `json:"devices"`
	Envelopes   []struct{} `json:"queued_envelopes"`
	Groups      []struct{} `json:"groups"`
	Attachments []struct{} `json:"attachments"`
	Push        []struct{} `json:"push_registrations"`
	Audit       []struct{} `json:"audit_events"`
}

// cmdExport downloads everything the server holds about the account into
// a new file (mode 0600) and prints a summary of it.
func cmdExport(ctx context.Context, a *app, args []string) error {
	fset := a.flagSet("export")
	out := fset.String("out", "", "file to write (default HOME/export-DATE.json); never overwritten")
	if _, err := a.parse(fset, args, 0, 0); err != nil {
		return err
	}
	_, acct, err := a.account(ctx)
	if err != nil {
		return err
	}
	if !acct.Primary() {
		return fmt.Errorf("export: only the primary device (device 1) can export the account's data; this is device %d: run hush export on the primary", acct.DeviceID)
	}
	path := *out
	if path == "" {
		home, err := a.homeDir()
		if err != nil {
			return err
		}
		path = filepath.Join(home, "export-"+time.Now().Format(time.DateOnly)+".json")
	}
	// Checked before the download too: every export is audited by the
	// server, so none is made only to be thrown away.
	if err := noFileAt(path); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	cl, err := a.device(acct)
	if err != nil {
		return err
	}
	n, sum, err := downloadExport(ctx, cl, path)
	switch {
	case client.IsCode(err, api.CodeForbidden):
		return fmt.Errorf("export: the server allows only the primary device to export: %w", err)
	case err != nil:
		return fmt.Errorf("export: %w", err)
	}
	if sum.Schema != exportSchema {
		fmt.Fprintf(a.stderr, "hush: warning: the export's schema is %q, not %s; the summary may be incomplete\n", printable(sum.Schema), exportSchema)
	}
	return a.printer().result(map[string]any{
		"path": path, "bytes": n, "schema": sum.Schema, "account_id": sum.Account.ID, "number": sum.Account.Number,
		"devices": len(sum.Devices), "queued_envelopes": len(sum.Envelopes), "groups": len(sum.Groups),
		"attachments": len(sum.Attachments), "push_registrations": len(sum.Push), "audit_events": len(sum.Audit),
	}, "export of %s written to %s (%d bytes, mode 0600)\n"+
		"devices %d, queued envelopes %d, groups %d, attachments %d, push registrations %d, audit events %d",
		printable(sum.Account.Number), path, n,
		len(sum.Devices), len(sum.Envelopes), len(sum.Groups), len(sum.Attachments), len(sum.Push), len(sum.Audit))
}

// noFileAt fails when anything exists at path.
func noFileAt(path string) error {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return fmt.Errorf("%s exists; not overwriting it (choose another file with --out)", path)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	return nil
}

// downloadExport writes the export into a temporary file next to path,
// reads its summary back, and only then puts it at path, never replacing
// a file: a failed or interrupted download leaves nothing behind.
func downloadExport(ctx context.Context, cl *client.Client, path string) (int64, *exportSummary, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".export-*.tmp") // mode 0600
	if err != nil {
		return 0, nil, err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := cl.ExportAccount(ctx, tmp)
	if err != nil {
		return 0, nil, err
	}
	if err := tmp.Sync(); err != nil {
		return 0, nil, err
	}
	if _, err := tmp.Seek(0, 0); err != nil {
		return 0, nil, err
	}
	var sum exportSummary
	if err := json.NewDecoder(bufio.NewReader(tmp)).Decode(&sum); err != nil {
		return 0, nil, fmt.Errorf("the server's answer is not an export: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, nil, err
	}
	if err := placeNew(tmp.Name(), path); err != nil {
		return 0, nil, err
	}
	done = true
	return n, &sum, nil
}

// placeNew moves the file at tmp to path unless something is at path.
func placeNew(tmp, path string) error {
	// A hard link fails when path exists, atomically.
	err := os.Link(tmp, path)
	if errors.Is(err, fs.ErrExist) {
		return noFileAt(path)
	}
	if err != nil {
		// A file system without hard links: check, then rename.
		if err := noFileAt(path); err != nil {
			return err
		}
		return os.Rename(tmp, path)
	}
	return os.Remove(tmp)
}

// cmdDeleteAccount erases the account on the server, after the user typed
// its number (or with --yes), then removes this home's local state so
// that the home can register again.
func cmdDeleteAccount(ctx context.Context, a *app, args []string) error {
	fset := a.flagSet("delete-account")
	yes := fset.Bool("yes", false, "do not ask for the number to confirm (for scripts)")
	if _, err := a.parse(fset, args, 0, 0); err != nil {
		return err
	}
	_, acct, err := a.account(ctx)
	if err != nil {
		return err
	}
	if !acct.Primary() {
		return fmt.Errorf("delete-account: only the primary device (device 1) can delete the account; this is device %d (to remove just this device: hush devices remove %d)", acct.DeviceID, acct.DeviceID)
	}
	home, err := a.homeDir()
	if err != nil {
		return err
	}
	if !*yes {
		if err := confirmDeletion(ctx, a, acct); err != nil {
			return err
		}
	}
	cl, err := a.device(acct)
	if err != nil {
		return err
	}
	rc, err := cl.DeleteAccount(ctx)
	switch {
	case client.IsCode(err, api.CodeForbidden):
		return fmt.Errorf("delete-account: the server allows only the primary device to delete the account: %w", err)
	case err != nil:
		return fmt.Errorf("delete-account: %w; this home was left as it was", err)
	}
	// The credential is dead now: close the store (the home stays locked
	// until the command ends) and remove what hush keeps in the home.
	cerr := a.closeStore()
	w, werr := wipeHome(home)
	if werr = errors.Join(cerr, werr); werr != nil {
		// The receipt is the proof of the erasure: print it anyway.
		_ = printErasure(a, rc, acct, home, w)
		return fmt.Errorf("delete-account: the account is erased, but this home's state was not all removed: %w; remove %s yourself before registering again here", werr, filepath.Join(home, store.FileName))
	}
	return printErasure(a, rc, acct, home, w)
}

// confirmDeletion asks the user to type the account's number.
func confirmDeletion(ctx context.Context, a *app, acct *store.Account) error {
	fmt.Fprintf(a.stderr, "This erases the account %s on the server now, for good: its devices, keys, waiting\n"+
		"messages, group memberships and attachments; and, in this home, its sessions, keys and history.\n"+
		"Type the account's phone number to confirm: ", acct.Number)
	line, err := readLine(ctx, a.stdin)
	if !a.stdinTTY {
		fmt.Fprintln(a.stderr) // no echoed Enter ends the prompt's line
	}
	typed := strings.Join(strings.Fields(line), "") // "+1 555 000 0001" counts
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case typed == "" && (err == nil || errors.Is(err, io.EOF)):
		return needInputf("delete-account: not confirmed: type the account's number (%s), or pass --yes; nothing was deleted", acct.Number)
	case typed == "":
		return fmt.Errorf("delete-account: read the confirmation: %w; nothing was deleted", err)
	case typed != acct.Number:
		return fmt.Errorf("delete-account: %q is not this account's number; nothing was deleted", printable(typed))
	}
	return nil
}

// readLine reads a line from r, or returns when ctx ends: Ctrl-C at a
// prompt interrupts the command though the read itself cannot be stopped
// (the process exits right after, ending it).
func readLine(ctx context.Context, r io.Reader) (string, error) {
	type read struct {
		line string
		err  error
	}
	got := make(chan read, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		got <- read{line, err}
	}()
	select {
	case g := <-got:
		return g.line, g.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func printErasure(a *app, rc *client.Erasure, acct *store.Account, home string, w *wiped) error {
	p := a.printer()
	if p.json {
		return p.jsonLine(map[string]any{
			"erased": true, "number": acct.Number, "receipt": rc,
			"home": home, "removed": w.removed, "kept": w.kept,
		})
	}
	lines := []string{
		fmt.Sprintf("account %s erased on the server", acct.Number),
		fmt.Sprintf("  subject             %s (the audit log's pseudonym; keep it as the receipt)", rc.Subject),
		fmt.Sprintf("  erased              %s", rc.Erased.Local().Format(time.DateTime+" MST")),
		fmt.Sprintf("  groups left         %d", rc.GroupsLeft),
		fmt.Sprintf("  attachments deleted %d", rc.AttachmentsDeleted),
		fmt.Sprintf("  audit entry         %d", rc.AuditSeq),
		fmt.Sprintf("local state removed from %s: %s", home, listOrNone(w.removed)),
	}
	if len(w.kept) > 0 {
		lines = append(lines, fmt.Sprintf("kept (not hush's state; delete them yourself if you wish): %s", strings.Join(w.kept, ", ")))
	}
	return p.linef("%s", strings.Join(lines, "\n"))
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, ", ")
}

// closeStore closes the store but keeps the home locked until the command
// ends.
func (a *app) closeStore() error {
	if a.st == nil {
		return nil
	}
	err := a.st.Close()
	a.st = nil
	if err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}
