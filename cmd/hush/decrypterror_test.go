package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/signal"
)

// tamperer stands between the CLI and the server: it passes everything
// on (WebSockets included), records the ciphertext types of sends, and
// corrupts the ciphertexts of the sends it is told to.
type tamperer struct {
	mu        sync.Mutex // guards the following fields
	corrupt   func(path string, dest string) bool
	types     map[string][]int // by path: the ciphertext types sent
	corrupted int
}

// newTamperer starts the proxy in front of the server at target and
// returns its URL.
func newTamperer(t *testing.T, target string) (*tamperer, string) {
	t.Helper()
	u, err := url.Parse(target)
	noErr(t, err)
	tp := &tamperer{types: map[string][]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && (r.URL.Path == "/v1/messages" || strings.HasSuffix(r.URL.Path, "/messages")) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			b = tp.pass(r.URL.Path, b)
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.ContentLength = int64(len(b))
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return tp, srv.URL
}

// pass records a send's ciphertext types and corrupts its ciphertexts
// (the last byte: a MAC or signature) when told to.
func (tp *tamperer) pass(path string, b []byte) []byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if path == "/v1/messages" {
		var s api.Send
		if json.Unmarshal(b, &s) != nil {
			return b
		}
		bad := tp.corrupt != nil && tp.corrupt(path, s.Destination)
		for i := range s.Messages {
			tp.types[path] = append(tp.types[path], s.Messages[i].Type)
			if bad && (s.Messages[i].AccountID == "" || s.Messages[i].AccountID == s.Destination) {
				corruptMAC(s.Messages[i].Type, s.Messages[i].Content)
				tp.corrupted++
			}
		}
		out, _ := json.Marshal(&s)
		return out
	}
	var g api.GroupSend
	if json.Unmarshal(b, &g) != nil {
		return b
	}
	tp.types["group"] = append(tp.types["group"], g.Type)
	if tp.corrupt != nil && tp.corrupt(path, "") {
		g.Content[len(g.Content)-1] ^= 0x55
		tp.corrupted++
	}
	out, _ := json.Marshal(&g)
	return out
}

// corruptMAC flips a bit of the MAC of a 1:1 message: the last byte of a
// SignalMessage, also inside a PreKeySignalMessage (whose last field is
// the Kyber ciphertext, which a session set up already does not read).
func corruptMAC(typ int, b []byte) {
	end := len(b)
	if typ == int(signal.TypePreKey) {
		if m, err := signal.ParsePreKeySignalMessage(b); err == nil {
			end = bytes.Index(b, m.Message.Bytes()) + len(m.Message.Bytes())
		}
	}
	b[end-1] ^= 0x55
}

func (tp *tamperer) set(f func(path, dest string) bool) {
	tp.mu.Lock()
	tp.corrupt, tp.corrupted = f, 0
	tp.mu.Unlock()
}

// TestUndecryptableIsSentAgain: a 1:1 message and a group message whose
// ciphertexts were corrupted on the way are not dropped: each recipient
// reports them (exit 4, kind "undecryptable" in --json) and sends the
// sender a DecryptionErrorMessage (envelope type 8); the sender archives
// the session, sends the message again on a new one (or hands out its
// sender key again), and every recipient ends up with each message once.
func TestUndecryptableIsSentAgain(t *testing.T) {
	c := newCLI(t)
	tp, proxied := newTamperer(t, c.url)
	c.url = proxied
	alice := c.register("alice", 1)
	bob := c.register("bob", 2)
	carol := c.register("carol", 3)
	aliceID, bobID := c.accountID("alice"), c.accountID("bob")

	c.run("alice", "send", bob, "one")
	assert(t, bodies(c.receive("bob")) == "one", "bob missed the first message")

	tp.set(func(_, dest string) bool { return dest == bobID })
	c.run("alice", "send", bob, "two")
	assert(t, tp.corrupted == 1, "corrupted %d messages", tp.corrupted)
	tp.set(nil)
	r := c.try("bob", nil, "receive", "--json")
	assert(t, r.code == exitUndecryptable && strings.Contains(r.stderr, "cannot decrypt message") &&
		strings.Contains(r.stderr, "could not be decrypted"), "bob's receive: %+v", r)
	var failed receivedJSON
	noErr(t, json.Unmarshal([]byte(r.stdout), &failed))
	assert(t, failed.Kind == kindUndecryptable && failed.FromAccount == aliceID && failed.ResendAsked && failed.Error != "",
		"bob's JSON line: %s", r.stdout)

	// alice gets the DecryptionErrorMessage (a type 8 envelope: nothing
	// else leads there) and sends "two" again.
	r = c.run("alice", "receive")
	assert(t, strings.Contains(r.stderr, "could not decrypt a message") && strings.Contains(r.stderr, "sending it again"), "alice's receive: %+v", r)
	got := c.receive("bob")
	assert(t, bodies(ofKind(got, kindText)) == "two" && len(got) == 1, "bob got, after the resend, %+v", got)
	c.run("bob", "send", alice, "got it")
	assert(t, bodies(ofKind(c.receive("alice"), kindText)) == "got it", "alice missed bob's answer on the new session")
	assert(t, c.historyBodies("bob", aliceID) == "one|two|got it", "bob's history: %s", c.historyBodies("bob", aliceID))
	assert(t, c.historyBodies("alice", bobID) == "one|two|got it", "alice's history: %s", c.historyBodies("alice", bobID))

	// A group message: the sender-key message is corrupted for everyone.
	g := strings.TrimSpace(c.run("alice", "group", "create", bob, carol).stdout)
	c.run("alice", "send", "--group", g, "g1")
	assert(t, bodies(ofKind(c.receive("bob"), kindText)) == "g1", "bob missed g1")
	assert(t, bodies(ofKind(c.receive("carol"), kindText)) == "g1", "carol missed g1")
	tp.set(func(path, _ string) bool { return path != "/v1/messages" })
	c.run("alice", "send", "--group", g, "g2")
	tp.set(nil)
	for _, who := range []string{"bob", "carol"} {
		r := c.try(who, nil, "receive", "--json")
		assert(t, r.code == exitUndecryptable && strings.Contains(r.stdout, kindUndecryptable), "%s's receive: %+v", who, r)
	}
	r = c.run("alice", "receive")
	assert(t, strings.Count(r.stderr, "sending it again") == 2, "alice's receive: %+v", r)
	for _, who := range []string{"bob", "carol"} {
		got := c.receive(who)
		assert(t, bodies(ofKind(got, kindText)) == "g2" && ofKind(got, kindText)[0].Group == g, "%s got, after the resends, %+v", who, got)
	}
	for _, typ := range tp.types["group"] {
		assert(t, typ == int(signal.TypeSenderKey), "a group send of type %d", typ)
	}
	assert(t, len(tp.types["group"]) >= 3, "group sends %v", tp.types["group"])
}

// historyBodies returns the bodies of dev's history with peer, oldest
// first, joined by "|", reading dev's store while no command runs.
func (c *cli) historyBodies(dev, peer string) string {
	c.t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(c.homes, dev))
	noErr(c.t, err)
	defer st.Close()
	msgs, err := st.Messages(context.Background(), peer, 100)
	noErr(c.t, err)
	var out []string
	for _, m := range msgs {
		out = append(out, m.Body)
	}
	return strings.Join(out, "|")
}
