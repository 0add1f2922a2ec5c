package integration

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stats runs `hushd stats --data dir` (hushd stopped) and returns its rows.
func stats(t *testing.T, dataDir string) map[string]int64 {
	t.Helper()
	out, err := exec.Command(filepath.Join(bin, "hushd"), "stats", "--data", dataDir).Output()
	if err != nil {
		t.Fatalf("hushd stats: %v", err)
	}
	var st map[string]int64
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("hushd stats printed %q: %v", out, err)
	}
	return st
}

// TestExportAndDeleteAccount: with real processes, alice exports her
// account and deletes it with --yes; the database then holds bob only,
// without the envelopes waiting for her, and her home registers again.
func TestExportAndDeleteAccount(t *testing.T) {
	data, homes := t.TempDir(), t.TempDir()
	alice, bob := filepath.Join(homes, "alice"), filepath.Join(homes, "bob")
	h := startHushd(t, data)
	mustHush(t, h.URL, alice, "register", "+15550000001", "--code", "111111")
	mustHush(t, h.URL, bob, "register", "+15550000002", "--code", "222222")
	mustHush(t, h.URL, alice, "send", "+15550000002", "hello bob")
	if got := bodies(receiveAll(t, h.URL, bob)); len(got) != 1 || got[0] != "hello bob" {
		t.Fatalf("bob got %q", got)
	}
	mustHush(t, h.URL, bob, "send", "+15550000001", "for alice, never read") // waits for alice

	file := filepath.Join(homes, "alice-export.json")
	var sum struct {
		Path      string `json:"path"`
		Number    string `json:"number"`
		Devices   int    `json:"devices"`
		Envelopes int    `json:"queued_envelopes"`
	}
	out := mustHush(t, h.URL, alice, "export", "--out", file, "--json")
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Path != file || sum.Number != "+15550000001" || sum.Devices != 1 || sum.Envelopes < 1 {
		t.Fatalf("export printed %q (%v)", out, err)
	}
	b, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(b), `"phone_number":"+15550000001"`) || !strings.Contains(string(b), `"schema":"hush-export/1"`) {
		t.Fatalf("export file: %v\n%s", err, b)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file mode: %v %v", fi.Mode(), err)
	}

	h.stop()
	if st := stats(t, data); st["accounts"] != 2 || st["envelopes"] < 1 {
		t.Fatalf("stats before the erasure: %v", st)
	}
	h = startHushd(t, data)
	out = mustHush(t, h.URL, alice, "delete-account", "--yes")
	if !strings.Contains(out, "account +15550000001 erased on the server") || !strings.Contains(out, "local state removed from "+alice+": hush.db") {
		t.Fatalf("delete-account printed %q", out)
	}
	if _, err := os.Stat(filepath.Join(alice, "hush.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("alice's store is still there: %v", err)
	}
	if r := hush(t, h.URL, bob, "send", "+15550000001", "still there?"); r.Code == 0 {
		t.Fatalf("bob sent to the erased number: %+v", r)
	}
	h.stop()

	st := stats(t, data)
	if st["accounts"] != 1 || st["devices"] != 1 || st["envelopes"] != 0 {
		t.Fatalf("stats after the erasure: accounts %d devices %d envelopes %d (want 1, 1, 0): %v", st["accounts"], st["devices"], st["envelopes"], st)
	}

	h = startHushd(t, data)
	mustHush(t, h.URL, alice, "register", "+15550000001", "--code", "111111")
	mustHush(t, h.URL, bob, "send", "+15550000001", "welcome back")
	if got := bodies(receiveAll(t, h.URL, alice)); len(got) != 1 || got[0] != "welcome back" {
		t.Fatalf("alice, registered again, got %q", got)
	}
	h.stop()
}
