package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hushmsg/hush/internal/testkit"
	_ "modernc.org/sqlite" // to count the server's envelope rows
)

// lockedBuffer is a buffer a process writes while the test reads it.
type lockedBuffer = testkit.SyncBuffer

// jsonField returns a string field of the first JSON line of out.
func jsonField(t *testing.T, out, field string) string {
	t.Helper()
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	v, _ := m[field].(string)
	if v == "" {
		t.Fatalf("%q has no %s", line, field)
	}
	return v
}

// groupNumber is the i-th number of the group test's range.
func groupNumber(i int) string { return fmt.Sprintf("+1555000%04d", 1000+i) }

// parallel runs fn for 0..n-1, eight at a time.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}

// groupMessageRows counts the stored envelopes of group sends (a shared
// payload and a sender; group notices have none, receipts no payload).
func groupMessageRows(t *testing.T, dataDir string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "hush.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM envelopes WHERE payload IS NOT NULL AND source_account != ''`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// connections reads hush_connections from the server's metrics.
func connections(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "hushd.admin.addr"))
	if err != nil {
		return ""
	}
	resp, err := http.Get(strings.TrimSpace(string(b)) + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "hush_connections "); ok {
			return v
		}
	}
	return ""
}

// A 50-member group with real hushd and hush processes: every other
// member decrypts every message; a non-admin cannot add; a removed member
// gets nothing sent after the removal; receipts come back as status;
// typing reaches an online member and never touches the envelope table;
// last seen follows the setting; a location round-trips.
func TestGroupOfFifty(t *testing.T) {
	const members = 50
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	// One address registers fifty accounts, and the creator looks up and
	// claims the keys of 49 others: the per-address and per-account limits
	// are off for this test.
	h := startHushd(t, data, "--test-numbers", groupNumber(0)+".."+groupNumber(members-1)+"=123456",
		"--verify-rate-address", "0", "--directory-rate", "0", "--bundle-rate", "0")
	home := func(i int) string { return filepath.Join(dir, fmt.Sprintf("m%02d", i)) }
	parallel(members, func(i int) {
		if r := hush(t, h.URL, home(i), "register", groupNumber(i), "--code", "123456"); r.Code != 0 {
			t.Errorf("register member %d: exit %d: %s", i, r.Code, r.Stderr)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	var others []string
	for i := 1; i < members; i++ {
		others = append(others, groupNumber(i))
	}
	out := mustHush(t, h.URL, home(0), append([]string{"--json", "group", "create"}, others...)...)
	g := jsonField(t, out, "group_id")

	mustHush(t, h.URL, home(0), "send", "--group", g, "hello fifty")
	mustHush(t, h.URL, home(1), "send", "--group", g, "--location", "48.858370,2.294481,Tour Eiffel")

	// Every other member decrypts both (member 1 its own location aside).
	var mu sync.Mutex
	var failures []string
	parallel(members, func(i int) {
		if i == 0 {
			return
		}
		var got []string
		for _, m := range receiveAll(t, h.URL, home(i)) {
			if m.Kind == "text" || m.Kind == "location" {
				got = append(got, m.Kind+":"+m.Body)
			}
		}
		want := []string{"text:hello fifty"}
		if i != 1 {
			want = append(want, "location:")
		}
		for _, w := range want {
			if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, w) }) {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("member %d lacks %q (got %q)", i, w, got))
				mu.Unlock()
			}
		}
	})
	if len(failures) > 0 {
		t.Fatalf("%d members did not decrypt everything:\n%s", len(failures), strings.Join(failures, "\n"))
	}
	loc := receiveAll(t, h.URL, home(0))
	if !slices.ContainsFunc(loc, func(m received) bool {
		return m.Kind == "location" && m.Group == g && strings.Contains(string(m.Location), "Tour Eiffel")
	}) {
		t.Fatalf("the creator did not get the location: %+v", loc)
	}

	// A non-admin's add is refused with 403.
	if r := hush(t, h.URL, home(2), "group", "add", g, groupNumber(0)); r.Code == 0 || !strings.Contains(r.Stderr, "admin") {
		t.Fatalf("non-admin add: exit %d, stderr %q", r.Code, r.Stderr)
	}

	// Receipts: delivery receipts went back already; member 3 reads.
	mustHush(t, h.URL, home(3), "read", "--group", g)
	receiveAll(t, h.URL, home(0)) // takes the receipts in
	status := mustHush(t, h.URL, home(0), "status", "--group", g, "--limit", "1")
	if !strings.Contains(status, groupNumber(3)+": read") || !strings.Contains(status, groupNumber(4)+": delivered") {
		t.Fatalf("status after receipts:\n%s", status)
	}

	// A removed member gets the notice and nothing after it.
	mustHush(t, h.URL, home(0), "group", "remove", g, groupNumber(members-1))
	mustHush(t, h.URL, home(0), "send", "--group", g, "after the removal")
	for _, m := range receiveAll(t, h.URL, home(members-1)) {
		if strings.Contains(m.Body, "after the removal") {
			t.Fatalf("the removed member got a message sent after its removal: %+v", m)
		}
	}
	if got := bodies(receiveAll(t, h.URL, home(5))); !slices.Contains(got, "after the removal") {
		t.Fatalf("a remaining member did not get the message after the removal: %q", got)
	}

	// Typing reaches an online member and never touches the table.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recv := exec.CommandContext(ctx, filepath.Join(bin, "hush"), "--server", h.URL, "--home", home(6), "receive", "--timeout", "20s")
	var recvOut lockedBuffer
	recv.Stdout, recv.Stderr = &recvOut, &recvOut
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "member 6 to connect", func() bool { return connections(t, data) == "1" })
	waitFor(t, "member 6's backlog to be acked", func() bool { return strings.Contains(recvOut.String(), "after the removal") })
	// Counted apart from receipts, which members send as they read.
	rows := groupMessageRows(t, data)
	mustHush(t, h.URL, home(0), "typing", "--group", g)
	if n := groupMessageRows(t, data); n != rows {
		t.Fatalf("typing stored group envelopes: %d rows, was %d", n, rows)
	}
	cancel()
	_ = recv.Wait()
	if !strings.Contains(recvOut.String(), "typing") {
		t.Fatalf("the online member did not see the typing notice:\n%s", recvOut.String())
	}

	// Last seen follows the setting.
	if out := mustHush(t, h.URL, home(1), "last-seen", groupNumber(0)); !strings.Contains(out, "hides") {
		t.Fatalf("last seen by default: %q", out)
	}
	mustHush(t, h.URL, home(0), "privacy", "last-seen", "everyone")
	if out := mustHush(t, h.URL, home(1), "last-seen", groupNumber(0)); !strings.Contains(out, "last seen") {
		t.Fatalf("last seen when allowed: %q", out)
	}
}
