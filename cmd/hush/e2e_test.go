package main

import (
	"encoding/json"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
)

// cli runs commands against one server, each device in its own home.
type cli struct {
	t     *testing.T
	url   string
	homes string
	node  *testkit.Node
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	node := testkit.Start(t, "", func(cfg *server.Config) {
		cfg.Devices.TestNumbers = map[string]string{
			"+15550000001": "111111", "+15550000002": "222222", "+15550000003": "333333", "+15550000004": "444444",
		}
	})
	return &cli{t: t, url: node.URL, homes: t.TempDir(), node: node}
}

// run runs a command as device dev and fails the test unless it exits 0.
func (c *cli) run(dev string, args ...string) result {
	c.t.Helper()
	r := c.try(dev, nil, args...)
	assert(c.t, r.code == exitOK, "%s %q: exit %d, stderr %q", dev, args, r.code, r.stderr)
	if r.stderr != "" {
		c.t.Logf("STDERR %s %q: %s", dev, args, r.stderr)
	}
	return r
}

func (c *cli) try(dev string, stdin io.Reader, args ...string) result {
	c.t.Helper()
	return hush(c.t, stdin, append([]string{"--server", c.url, "--home", filepath.Join(c.homes, dev)}, args...)...)
}

// link links device dev to the account of primary.
func (c *cli) link(dev, primary string) {
	c.t.Helper()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runWith(c.t, nil, &out, &errOut, "--server", c.url, "--home", filepath.Join(c.homes, dev), "link", "--name", dev, "--timeout", "1m")
	}()
	var code string
	testkit.WaitFor(c.t, "the link code", func() bool {
		code, _, _ = strings.Cut(out.String(), "\n")
		return strings.HasPrefix(code, "hush-link:") && strings.Contains(out.String(), "\n")
	})
	c.run(primary, "approve", code)
	assert(c.t, <-done == exitOK, "link %s: stderr %q", dev, errOut.String())
	assert(c.t, strings.Contains(out.String(), "linked as device"), "link output %q", out.String())
}

// receive returns the messages device dev decrypts.
func (c *cli) receive(dev string) []receivedJSON {
	c.t.Helper()
	r := c.run(dev, "receive", "--json")
	var msgs []receivedJSON
	for line := range strings.Lines(r.stdout) {
		var m receivedJSON
		noErr(c.t, json.Unmarshal([]byte(line), &m))
		msgs = append(msgs, m)
	}
	return msgs
}

func bodies(msgs []receivedJSON) string {
	var b []string
	for _, m := range msgs {
		b = append(b, m.Body)
	}
	return strings.Join(b, "|")
}

// TestConversation runs the CLI against a real in-process server: two
// accounts, a linked device, sync copies, device removal (409), a peer
// registering again with a new identity key (410 and a warning), chat and
// safety numbers.
func TestConversation(t *testing.T) {
	c := newCLI(t)
	c.run("alice1", "register", "+15550000001", "--code", "111111")
	c.run("bob1", "register", "+15550000002", "--code", "222222")
	c.run("alice1", "send", "+15550000002", "hi bob")
	c.link("alice2", "alice1")

	// alice1 has a session with bob but none with alice2: the server's 409
	// makes it start one, and alice2 gets a sync copy.
	c.run("alice1", "send", "+15550000002", "second")
	got := c.receive("bob1")
	assert(t, bodies(got) == "hi bob|second", "bob1 got %q", bodies(got))
	assert(t, got[0].FromDevice == 1 && got[0].SyncTo == "", "bob1's first message: %+v", got[0])
	got = c.receive("alice2")
	assert(t, bodies(got) == "second" && got[0].SyncTo != "" && got[0].FromNumber == "+15550000001", "alice2 got %+v", got)

	// A second receive finds nothing: everything was acked.
	assert(t, len(c.receive("bob1")) == 0, "bob1 received again")

	c.run("bob1", "send", "+15550000001", "hello both")
	got = c.receive("alice1")
	assert(t, bodies(got) == "hello both" && got[0].FromNumber == "+15550000002", "alice1 got %+v", got)
	bob := got[0].FromAccount
	got = c.receive("alice2") // alice2 never looked bob's number up
	assert(t, bodies(got) == "hello both" && got[0].FromAccount == bob && got[0].FromNumber == "", "alice2 got %+v", got)

	// alice1 removes alice2; its next send names alice2 until the 409.
	c.run("alice1", "devices", "remove", "2")
	r := c.run("alice1", "devices", "--json")
	assert(t, strings.Contains(r.stdout, `"device_id":1`) && !strings.Contains(r.stdout, `"device_id":2`), "devices: %s", r.stdout)
	c.run("bob1", "send", "+15550000001", "still there?")
	c.run("alice1", "send", "+15550000002", "yes")
	assert(t, bodies(c.receive("bob1")) == "yes", "bob1 after alice2's removal")
	assert(t, bodies(c.receive("alice1")) == "still there?", "alice1 after removing alice2")

	// Safety numbers agree on both sides.
	sa := c.run("alice1", "safety-number", "+15550000002").stdout
	sb := c.run("bob1", "safety-number", "+15550000001").stdout
	assert(t, sa == sb && len(strings.Fields(sa)) == 12, "safety numbers %q and %q", sa, sb)

	// Bob registers again on a new phone: new identity key and
	// registration id. Alice's next send is refused as stale (410),
	// repaired, and warns about the new key.
	c.run("bob-new", "register", "+15550000002", "--code", "222222")
	r = c.run("alice1", "send", "+15550000002", "after the change")
	assert(t, strings.Contains(r.stderr, "identity key of +15550000002 changed; safety number is now"), "no warning: %q", r.stderr)
	got = c.receive("bob-new")
	assert(t, bodies(got) == "after the change", "bob-new got %q", bodies(got))
	sa2 := c.run("alice1", "safety-number", "+15550000002").stdout
	assert(t, sa2 != sa && sa2 == c.run("bob-new", "safety-number", "+15550000001").stdout, "safety number after the change")
	r = c.try("bob1", nil, "receive")
	assert(t, r.code == exitError && strings.Contains(r.stderr, "unauthorized"), "old bob device: %+v", r)

	// chat: sends each line, prints what comes in.
	c.run("bob-new", "send", "+15550000001", "chat with me")
	r = c.try("alice1", strings.NewReader("hello from chat\n/quit\n"), "chat", "+15550000002")
	assert(t, r.code == exitOK, "chat: %+v", r)
	got = c.receive("bob-new")
	assert(t, bodies(got) == "hello from chat", "bob-new got %q from chat", bodies(got))
	// chat may end before the waiting message came: then receive gets it.
	left := bodies(c.receive("alice1"))
	assert(t, left == "chat with me" || strings.Contains(r.stdout, "chat with me"),
		"the message waiting for alice1 was neither printed by chat nor left for receive")
}

// TestReceiveReconnectsWhenTheServerRestarts stops the server under a
// running receive: the server closes with "shutting down" (4002), the
// client reconnects to the restarted server and gets what was sent since.
func TestReceiveReconnectsWhenTheServerRestarts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	noErr(t, err)
	addr := l.Addr().String()
	noErr(t, l.Close())
	node := testkit.Start(t, "", func(cfg *server.Config) {
		cfg.Listen = addr // the same address after the restart
		cfg.Devices.TestNumbers = map[string]string{"+15550000001": "111111", "+15550000002": "222222"}
	})
	c := &cli{t: t, url: node.URL, homes: t.TempDir()}
	c.run("alice", "register", "+15550000001", "--code", "111111")
	c.run("bob", "register", "+15550000002", "--code", "222222")
	c.run("bob", "send", "+15550000001", "before the restart")

	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runWith(t, nil, &out, &errOut, "--server", c.url, "--home", filepath.Join(c.homes, "alice"), "receive", "--timeout", "3s")
	}()
	testkit.WaitFor(t, "the first message", func() bool { return strings.Contains(out.String(), "before the restart") })
	node = node.Restart(t)
	assert(t, node.URL == c.url, "restarted at %s, not %s", node.URL, c.url)
	c.run("bob", "send", "+15550000001", "after the restart")
	assert(t, <-done == exitOK, "receive: %q", errOut.String())
	assert(t, strings.Contains(out.String(), "after the restart"), "receive after the restart printed %q (stderr %q)", out.String(), errOut.String())
	assert(t, strings.Contains(errOut.String(), "shutting down; reconnecting"), "stderr %q", errOut.String())
}

// TestIdentityChangeWarnings: a number registered again (without a
// registration lock, so as a new account) shows its contacts an identity
// change with the new safety number when they next write to the number;
// the new key is trusted from then on, both ways, without another
// warning.
func TestIdentityChangeWarnings(t *testing.T) {
	c := newCLI(t)
	c.run("alice", "register", "+15550000001", "--code", "111111")
	c.run("bob", "register", "+15550000002", "--code", "222222")
	c.run("alice", "send", "+15550000002", "hi bob")
	assert(t, bodies(c.receive("bob")) == "hi bob", "bob missed alice's message")
	before := c.run("alice", "safety-number", "+15550000002").stdout

	c.run("bob-new", "register", "+15550000002", "--code", "222222")
	r := c.run("alice", "send", "+15550000002", "still there?")
	assert(t, strings.Contains(r.stderr, "identity key of +15550000002 changed; safety number is now"), "no warning: %q", r.stderr)
	after := c.run("alice", "safety-number", "+15550000002").stdout
	assert(t, after != before && strings.Contains(r.stderr, strings.TrimSpace(after)), "safety number %q, was %q; warning %q", after, before, r.stderr)
	assert(t, after == c.run("bob-new", "safety-number", "+15550000001").stdout, "the two sides disagree after the change")
	assert(t, bodies(ofKind(c.receive("bob-new"), kindText)) == "still there?", "bob-new missed alice's message")

	c.run("bob-new", "send", "+15550000001", "new phone")
	r = c.run("alice", "receive", "--json")
	assert(t, strings.Contains(r.stdout, "new phone"), "alice's receive printed %q", r.stdout)
	assert(t, !strings.Contains(r.stderr, "changed"), "a second warning on receipt: %q", r.stderr)

	r = c.run("alice", "send", "+15550000002", "welcome back")
	assert(t, !strings.Contains(r.stderr, "changed"), "a second warning: %q", r.stderr)
	assert(t, bodies(ofKind(c.receive("bob-new"), kindText)) == "welcome back", "bob-new missed alice's answer")
}
