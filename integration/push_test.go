package integration

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPushListen: hushd (sending Web Push to private http endpoints) and
// bob's "hush push listen" as real processes. A message alice sends while
// bob is away wakes bob's listener, which prints it; stopped, the listener
// removes its registration.
func TestPushListen(t *testing.T) {
	dir := t.TempDir()
	h := startHushd(t, filepath.Join(dir, "data"), "--webpush-allow-private")
	alice, bob := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	mustHush(t, h.URL, alice, "register", "+15550000001", "--code", "111111")
	mustHush(t, h.URL, bob, "register", "+15550000002", "--code", "222222")
	mustHush(t, h.URL, bob, "privacy", "last-seen", "everyone")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listen := exec.CommandContext(ctx, filepath.Join(bin, "hush"), "--server", h.URL, "--home", bob, "push", "listen")
	var out, errOut lockedBuffer
	listen.Stdout, listen.Stderr = &out, &errOut
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- listen.Wait() }()
	defer func() { _ = listen.Process.Kill() }()
	waitFor(t, "the listener's first drain", func() bool { return strings.Contains(errOut.String(), "waiting for wake-ups") })

	// Send once the server has seen bob's first drain end, so that the
	// message is stored for an absent device.
	waitFor(t, "bob offline", func() bool {
		var p struct {
			Online   bool  `json:"online"`
			LastSeen int64 `json:"last_seen"`
		}
		err := json.Unmarshal([]byte(mustHush(t, h.URL, alice, "last-seen", "+15550000002", "--json")), &p)
		return err == nil && !p.Online && p.LastSeen > 0
	})
	mustHush(t, h.URL, alice, "send", "+15550000002", "ring ring, bob")
	waitFor(t, "bob's listener to print the message", func() bool { return strings.Contains(out.String(), "ring ring, bob") })
	if !strings.Contains(out.String(), "woken: fetching messages") {
		t.Fatalf("listener output:\n%s\nstderr:\n%s", out.String(), errOut.String())
	}

	_ = listen.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("listener exit after SIGTERM: %v\nstderr:\n%s", err, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("listener did not stop within 30 s of SIGTERM\nstderr:\n%s", errOut.String())
	}
	if !strings.Contains(errOut.String(), "push registration removed") {
		t.Fatalf("listener stderr:\n%s", errOut.String())
	}
	if st := mustHush(t, h.URL, bob, "push", "status"); !strings.Contains(st, "no push registration") {
		t.Fatalf("push status after the listener: %q", st)
	}
}
