package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestRegistrationLockCLI: "hush pin set" locks the number; registering
// it again asks for the PIN (never echoed) and keeps the account with the
// right one; after "hush pin clear" the number registers as a new account
// and a contact is told its identity changed, with the new safety number.
func TestRegistrationLockCLI(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	const pin = "2468"
	c.run("alice", "register", "+15550000001", "--code", "111111")
	c.run("bob", "register", "+15550000002", "--code", "222222")
	c.run("bob", "send", "+15550000001", "hello")
	before := whoami(t, c, "alice")

	// Set from a terminal prompt: asked twice, never echoed.
	var out, errOut syncBuffer
	e := &env{stdin: strings.NewReader(pin + "\n" + pin + "\n"), stdinTTY: true, stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	code := report(&errOut, run(context.Background(), []string{"--server", c.url, "--home", filepath.Join(c.homes, "alice"), "pin", "set"}, e))
	assert(t, code == exitOK, "pin set: exit %d, stderr %q", code, errOut.String())
	assert(t, !strings.Contains(out.String()+errOut.String(), pin), "the PIN was echoed: %q %q", out.String(), errOut.String())

	r := c.try("alice-new", nil, "register", "+15550000001", "--code", "111111")
	assert(t, r.code == exitNeedInput, "register a locked number without the PIN: exit %d, stderr %q", r.code, r.stderr)
	assert(t, strings.Contains(r.stderr, "registration lock"), "no word of the lock: %q", r.stderr)
	r = c.try("alice-new", nil, "register", "+15550000001", "--code", "111111", "--pin", "1357")
	assert(t, r.code == exitError && strings.Contains(r.stderr, "wrong PIN"), "wrong PIN: exit %d, stderr %q", r.code, r.stderr)
	r = c.run("alice-new", "register", "+15550000001", "--code", "111111", "--pin", pin)
	assert(t, !strings.Contains(r.stdout+r.stderr, pin), "the PIN was echoed: %q %q", r.stdout, r.stderr)
	equal(t, "account kept with the PIN", whoami(t, c, "alice-new"), before)

	c.run("alice-new", "pin", "clear")
	c.run("mallory", "register", "+15550000001", "--code", "111111")
	if whoami(t, c, "mallory") == before {
		t.Fatal("the number kept its account without the lock")
	}
	r = c.run("bob", "send", "+15550000001", "who is this?")
	assert(t, strings.Contains(r.stderr, "identity key of +15550000001 changed; safety number is now"), "no identity-change warning: %q", r.stderr)
}

func whoami(t *testing.T, c *cli, dev string) string {
	t.Helper()
	var w struct {
		AccountID string `json:"account_id"`
	}
	noErr(t, json.Unmarshal([]byte(c.run(dev, "whoami", "--json").stdout), &w))
	return w.AccountID
}

func equal[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}
