package integration

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// received is one line of `hush receive --json`.
type received struct {
	ID          string `json:"id"`
	FromAccount string `json:"from_account"`
	FromDevice  uint32 `json:"from_device"`
	FromNumber  string `json:"from_number"`
	Kind        string `json:"kind"`
	Body        string `json:"body"`
	SyncTo      string `json:"sync_to"`
	Group       string `json:"group"`
	// Location is set for a location message.
	Location json.RawMessage `json:"location"`
}

func receiveAll(t *testing.T, server, home string) []received {
	t.Helper()
	out := mustHush(t, server, home, "receive", "--json", "--timeout", "1s")
	var msgs []received
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var m received
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("receive --json line %q: %v", line, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func bodies(ms []received) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Body)
	}
	return out
}

func canary(t *testing.T) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "canary-" + hex.EncodeToString(b)
}

// TestDemo runs scripts/demo.sh, the definition of done, with a
// canary text, then checks the data directory on its own.
func TestDemo(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	text := canary(t)
	cmd := exec.Command("bash", "../scripts/demo.sh", data)
	cmd.Env = append(os.Environ(), "HUSH_DEMO_TEXT="+text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), text) {
		t.Fatalf("demo output does not show the decrypted messages:\n%s", out)
	}
	assertNoneInDir(t, data, text)
}

func assertNoneInDir(t *testing.T, dir, needle string) {
	t.Helper()
	files := 0
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), needle) {
			t.Errorf("%s contains %q", path, needle)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no files in %s", dir)
	}
}

// TestRestartBetweenSendAndReceive: what the server accepted survives a
// restart of the process.
func TestRestartBetweenSendAndReceive(t *testing.T) {
	data, homes := t.TempDir(), t.TempDir()
	alice, bob := filepath.Join(homes, "alice"), filepath.Join(homes, "bob")
	h := startHushd(t, data)
	mustHush(t, h.URL, alice, "register", "+15550000001", "--code", "111111")
	mustHush(t, h.URL, bob, "register", "+15550000002", "--code", "222222")
	text := canary(t)
	mustHush(t, h.URL, alice, "send", "+15550000002", text)
	h.stop()

	h = startHushd(t, data)
	var me struct {
		AccountID string `json:"account_id"`
	}
	if err := json.Unmarshal([]byte(mustHush(t, h.URL, alice, "whoami", "--json")), &me); err != nil || me.AccountID == "" {
		t.Fatalf("whoami --json: %v", err)
	}
	got := receiveAll(t, h.URL, bob)
	if len(got) != 1 || got[0].Body != text || got[0].FromAccount != me.AccountID || got[0].FromDevice != 1 {
		t.Fatalf("after restart bob got %+v, want one message %q from %s.1", got, text, me.AccountID)
	}
	if again := receiveAll(t, h.URL, bob); len(again) != 0 {
		t.Fatalf("acked message delivered again: %v", bodies(again))
	}
	h.stop()
	assertNoneInDir(t, data, text)
}

// TestNewDeviceAndSessionRepair: a device linked after a session exists
// gets the next message (the sender repairs on 409), and a removed one
// stops getting them.
func TestNewDeviceAndSessionRepair(t *testing.T) {
	data, homes := t.TempDir(), t.TempDir()
	alice, bob, bob2 := filepath.Join(homes, "alice"), filepath.Join(homes, "bob"), filepath.Join(homes, "bob2")
	h := startHushd(t, data)
	mustHush(t, h.URL, alice, "register", "+15550000001", "--code", "111111")
	mustHush(t, h.URL, bob, "register", "+15550000002", "--code", "222222")
	mustHush(t, h.URL, alice, "send", "+15550000002", "first")
	linkDevice(t, h.URL, bob, bob2)

	mustHush(t, h.URL, alice, "send", "+15550000002", "second")
	if got := bodies(receiveAll(t, h.URL, bob2)); len(got) != 1 || got[0] != "second" {
		t.Fatalf("new device got %v, want [second]", got)
	}
	if got := bodies(receiveAll(t, h.URL, bob)); len(got) != 2 || got[0] != "first" || got[1] != "second" {
		t.Fatalf("primary got %v, want [first second]", got)
	}
	mustHush(t, h.URL, bob, "devices", "remove", "2")
	if r := hush(t, h.URL, bob2, "receive", "--timeout", "1s"); r.Code == 0 {
		t.Fatalf("removed device could still receive: %+v", r)
	}
	mustHush(t, h.URL, alice, "send", "+15550000002", "third")
	if got := bodies(receiveAll(t, h.URL, bob)); len(got) != 1 || got[0] != "third" {
		t.Fatalf("after removal bob got %v, want [third]", got)
	}
}

// linkDevice links newHome to primaryHome's account through the real
// provisioning flow.
func linkDevice(t *testing.T, server, primaryHome, newHome string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "hush"), "--server", server, "--home", newHome, "link")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	sc := bufio.NewScanner(stdout)
	code := ""
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "hush-link:") {
			code = line
			break
		}
	}
	if code == "" {
		t.Fatalf("link printed no code; stderr: %s", stderr.String())
	}
	mustHush(t, server, primaryHome, "approve", code)
	go func() { _, _ = bufio.NewReader(stdout).WriteTo(discard{}) }()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("link: %v; stderr: %s", err, stderr.String())
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// TestIdentityChangeWarns: when a contact re-registers with a new identity
// key, the sender is warned and the message still gets through.
func TestIdentityChangeWarns(t *testing.T) {
	data, homes := t.TempDir(), t.TempDir()
	alice, bob, bobNew := filepath.Join(homes, "alice"), filepath.Join(homes, "bob"), filepath.Join(homes, "bob-new")
	h := startHushd(t, data)
	mustHush(t, h.URL, alice, "register", "+15550000001", "--code", "111111")
	mustHush(t, h.URL, bob, "register", "+15550000002", "--code", "222222")
	mustHush(t, h.URL, alice, "send", "+15550000002", "before")
	receiveAll(t, h.URL, bob)
	before := mustHush(t, h.URL, alice, "safety-number", "+15550000002")

	mustHush(t, h.URL, bobNew, "register", "+15550000002", "--code", "222222")
	r := hush(t, h.URL, alice, "send", "+15550000002", "after")
	if r.Code != 0 {
		t.Fatalf("send after identity change: %+v", r)
	}
	if !strings.Contains(strings.ToLower(r.Stderr), "identity") {
		t.Fatalf("no identity-change warning on stderr: %q", r.Stderr)
	}
	if got := bodies(receiveAll(t, h.URL, bobNew)); len(got) != 1 || got[0] != "after" {
		t.Fatalf("re-registered bob got %v", got)
	}
	if after := mustHush(t, h.URL, alice, "safety-number", "+15550000002"); after == before {
		t.Fatal("safety number did not change with the identity key")
	}
}
