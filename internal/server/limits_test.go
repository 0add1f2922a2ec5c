package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/clientaddr"
	"github.com/hushmsg/hush/internal/ratelimit"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/storetest"
	"github.com/hushmsg/hush/internal/testkit"
)

// expectLimited checks a 429 with the code and a Retry-After header.
func expectLimited(t *testing.T, n *testkit.Node, dev *testkit.Device, method, path string, body any, code string) {
	t.Helper()
	req := requestTo(t, n, dev, method, path, body, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	_ = jsonDecode(resp, &e)
	if resp.StatusCode != http.StatusTooManyRequests || e.Code != code {
		t.Fatalf("%s %s: %d %q, want 429 %q", method, path, resp.StatusCode, e.Code, code)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s != e.RetryAfter {
		t.Fatalf("%s %s: Retry-After %q, body retry_after %d", method, path, resp.Header.Get("Retry-After"), e.RetryAfter)
	}
}

// Limits hold across nodes: a second node on the same database refuses
// once the first has used the budget up.
func TestClusterSharedLimits(t *testing.T) {
	t.Parallel()
	db, nats := storeURLs(t)
	tight := func(c *server.Config) {
		c.DB, c.NATS = db, nats
		c.Devices.DirectoryLimit.Burst = 3
		c.Devices.CodePerNumber.Burst = 2
		c.Groups.CreateLimit.Burst = 2
		c.Keys.BundleLimit.Burst = 4
	}
	a, b := testkit.Start(t, "", tight), testkit.Start(t, "", tight)
	alice, bob := a.Register(t), a.Register(t)

	for range 3 {
		a.Do(t, alice, "GET", "/v1/directory/"+bob.Number, nil)
	}
	expectLimited(t, b, alice, "GET", "/v1/directory/"+bob.Number, nil, api.CodeRateLimited)

	number := testkit.TestNumber()
	a.MustDo(t, nil, "POST", "/v1/registration/code", api.RequestCode{Number: number}, http.StatusAccepted, nil)
	a.MustDo(t, nil, "POST", "/v1/registration/code", api.RequestCode{Number: number}, http.StatusAccepted, nil)
	expectLimited(t, b, nil, "POST", "/v1/registration/code", api.RequestCode{Number: number}, api.CodeRateLimited)

	for range 2 {
		a.MustDo(t, alice, "POST", "/v1/groups", api.CreateGroup{Members: []string{bob.AccountID}}, http.StatusCreated, nil)
	}
	expectLimited(t, b, alice, "POST", "/v1/groups", api.CreateGroup{Members: []string{bob.AccountID}}, api.CodeRateLimited)

	for range 4 {
		a.MustDo(t, alice, "GET", "/v1/keys/"+bob.AccountID+"/*", nil, http.StatusOK, nil)
	}
	expectLimited(t, b, alice, "GET", "/v1/keys/"+bob.AccountID+"/*", nil, api.CodeRateLimited)
}

// storeURLs is a fresh PostgreSQL database and the NATS server.
func storeURLs(t *testing.T) (db, nats string) {
	t.Helper()
	return storetest.PostgresURL(t), storetest.NATSURL(t)
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

// One device cannot empty another account's one-time prekeys: past the
// pair's budget, fetches answer the bundle without one-time keys (and
// take none), the target still hears that its keys run low, and a
// session can still start (signed and last-resort keys).
func TestPrekeysNotDrained(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) { c.Keys.BundleLimit.Burst = 1000 })
	victim, attacker := n.Register(t), n.Register(t)
	var ec []api.PreKey
	var pq []api.SignedPreKey
	for i := range 100 {
		ec = append(ec, api.PreKey{KeyID: uint32(i + 1), PublicKey: testkit.ECKey(t)})
		pq = append(pq, victim.Identity.SignedPQ(t, uint32(i+100)))
	}
	n.MustDo(t, victim, "PUT", "/v1/keys", api.SetKeys{PreKeys: ec, PQPreKeys: pq}, http.StatusNoContent, nil)

	pair := server.Defaults().Keys.PairLimit.Burst
	withKey := 0
	for range 105 {
		var b api.Bundle
		n.MustDo(t, attacker, "GET", "/v1/keys/"+victim.AccountID+"/*", nil, http.StatusOK, &b)
		d := b.Devices[0]
		if d.PreKey != nil {
			withKey++
			continue
		}
		equal(t, "a limited fetch gets the last-resort PQ key", d.PQLastResort, true)
		equal(t, "and the signed prekey", d.SignedPreKey.KeyID != 0 && len(d.SignedPreKey.Signature) > 0, true)
	}
	equal(t, "fetches that took a one-time key", withKey, pair)
	var c api.KeyCount
	n.MustDo(t, victim, "GET", "/v1/keys/count", nil, http.StatusOK, &c)
	equal(t, "EC one-time keys left", c.PreKeys, 100-pair)
	equal(t, "PQ one-time keys left", c.PQPreKeys, 100-pair)
}

// The target's low-prekey signal still fires when claims run its keys
// low, and keeps firing while limited fetches find them low.
func TestPrekeysLowStillSignalled(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) { c.Keys.PairLimit.Burst = 3 })
	victim, other := n.Register(t), n.Register(t)
	var ec []api.PreKey
	for i := range 12 {
		ec = append(ec, api.PreKey{KeyID: uint32(i + 1), PublicKey: testkit.ECKey(t)})
	}
	var pq []api.SignedPreKey
	for i := range 12 {
		pq = append(pq, victim.Identity.SignedPQ(t, uint32(i+100)))
	}
	n.MustDo(t, victim, "PUT", "/v1/keys", api.SetKeys{PreKeys: ec, PQPreKeys: pq}, http.StatusNoContent, nil)
	ws := n.Connect(t, victim)
	skipKeysLow(t, ws)
	for range 3 {
		n.MustDo(t, other, "GET", "/v1/keys/"+victim.AccountID+"/1", nil, http.StatusOK, nil)
	}
	f := ws.Read()
	equal(t, "keys_low after claims", f.Type, wire.TypeKeysLow)
	equal(t, "keys left", *f.PreKeys, 9)
	var b api.Bundle
	n.MustDo(t, other, "GET", "/v1/keys/"+victim.AccountID+"/1", nil, http.StatusOK, &b)
	equal(t, "limited fetch: no one-time key", b.Devices[0].PreKey == nil, true)
	f = ws.Read()
	equal(t, "keys_low on a limited fetch", f.Type, wire.TypeKeysLow)
	equal(t, "keys left after a limited fetch", *f.PreKeys, 9)
}

// A mailbox fills up to its quota; then a send to it gets 429
// mailbox_full with Retry-After, nothing already stored is dropped, and a
// group send goes to the others, listing it.
func TestMailboxFull(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) { c.Envelope.MailboxMaxEnvelopes = 3 })
	alice, bob, carol := n.Register(t), n.Register(t), n.Register(t)
	for i := range 3 {
		n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte{byte(i)}, bob), http.StatusOK, nil)
	}
	expectLimited(t, n, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("over"), bob), api.CodeMailboxFull)
	expectLimited(t, n, carol, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("over"), bob), api.CodeMailboxFull)
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(carol.AccountID, []byte("room"), carol), http.StatusOK, nil)

	var g api.Group
	n.MustDo(t, alice, "POST", "/v1/groups", api.CreateGroup{Members: []string{bob.AccountID, carol.AccountID}}, http.StatusCreated, &g)
	send := api.GroupSend{Type: 4, Content: []byte("to the group"), Recipients: []api.GroupRecipient{
		{AccountID: bob.AccountID, DeviceID: 1, RegistrationID: 1}, {AccountID: carol.AccountID, DeviceID: 1, RegistrationID: 1}}}
	var res api.SendResult
	n.MustDo(t, alice, "POST", "/v1/groups/"+g.GroupID+"/messages", send, http.StatusOK, &res)
	equal(t, "group send: full mailboxes", fmt.Sprint(res.MailboxFull), fmt.Sprint([]api.MailboxAddress{{AccountID: bob.AccountID, DeviceID: 1}}))

	ws := n.Connect(t, bob)
	var got []string
	for {
		f := ws.Read()
		if f.Type == wire.TypeQueueEmpty {
			break
		}
		if f.Type == wire.TypeEnvelope {
			got = append(got, string(f.Envelope.Content))
		}
	}
	// The group's creation notice went in too: notices are counted but
	// never refused.
	equal(t, "bob's mailbox", len(got), 4)
	equal(t, "the first three sends kept", got[0]+got[1]+got[2], "\x00\x01\x02")
}

// 200 group creations naming a victim put at most the creation budget
// of notices in its mailbox.
func TestGroupFloodLimited(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	attacker, victim := n.Register(t), n.Register(t)
	created := 0
	for range 200 {
		status, _ := n.Do(t, attacker, "POST", "/v1/groups", api.CreateGroup{Members: []string{victim.AccountID}})
		switch status {
		case http.StatusCreated:
			created++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("group creation: status %d", status)
		}
	}
	equal(t, "groups created", created, server.Defaults().Groups.CreateLimit.Burst)

	// Adding members counts too, whatever the groups.
	m := testkit.Start(t, "", func(c *server.Config) { c.Groups.AddLimit.Burst = 3 })
	owner := m.Register(t)
	var members []string
	for range 3 {
		members = append(members, m.Register(t).AccountID)
	}
	var g api.Group
	m.MustDo(t, owner, "POST", "/v1/groups", api.CreateGroup{Members: members[:2]}, http.StatusCreated, &g)
	m.MustDo(t, owner, "POST", "/v1/groups/"+g.GroupID+"/members", api.AddMembers{Members: members[2:]}, http.StatusOK, nil)
	expectLimited(t, m, owner, "POST", "/v1/groups/"+g.GroupID+"/members", api.AddMembers{Members: []string{m.Register(t).AccountID}}, api.CodeRateLimited)
}

func TestDirectoryDailyCap(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) {
		c.Devices.DirectoryLimit.Burst = 0
		c.Devices.DirectoryDaily.Burst = 5
	})
	alice, bob := n.Register(t), n.Register(t)
	for range 5 {
		n.MustDo(t, alice, "GET", "/v1/directory/"+bob.Number, nil, http.StatusOK, nil)
	}
	expectLimited(t, n, alice, "GET", "/v1/directory/"+bob.Number, nil, api.CodeRateLimited)
	n.MustDo(t, bob, "GET", "/v1/directory/"+alice.Number, nil, http.StatusOK, nil)
	equal(t, "the default daily cap", server.Defaults().Devices.DirectoryDaily, ratelimit.Limit{Burst: 2000, Per: 24 * time.Hour})
}

// Codes sent by SMS are budgeted per country calling code and in all;
// test numbers (no SMS) are not.
func TestSMSBudgets(t *testing.T) {
	t.Parallel()
	n, _ := smsNode(t, func(c *server.Config) {
		c.Devices.SMSPrefixHour.Burst = 2
		c.Devices.SMSHour.Burst = 3
	})
	code := func(number string) {
		n.MustDo(t, nil, "POST", "/v1/registration/code", api.RequestCode{Number: number}, http.StatusAccepted, nil)
	}
	code("+14155552671")
	code("+12125551234")
	expectLimited(t, n, nil, "POST", "/v1/registration/code", api.RequestCode{Number: "+13105550199"}, api.CodeSMSBudget)
	code("+447911123456") // another calling code
	expectLimited(t, n, nil, "POST", "/v1/registration/code", api.RequestCode{Number: "+33612345678"}, api.CodeSMSBudget)
	code(testkit.TestNumber()) // sends no SMS
}

// requestTo builds a request as dev (nil: none) with extra headers.
func requestTo(t *testing.T, n *testkit.Node, dev *testkit.Device, method, path string, body any, header http.Header) *http.Request {
	t.Helper()
	var r *strings.Reader
	if body != nil {
		r = strings.NewReader(jsonString(t, body))
	} else {
		r = strings.NewReader("")
	}
	req, err := http.NewRequest(method, n.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if dev != nil {
		req.SetBasicAuth(dev.User(), dev.Password)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return req
}

// codeFrom requests a code for a fresh test number with X-Forwarded-For
// xff and returns the status.
func codeFrom(t *testing.T, n *testkit.Node, xff string) int {
	t.Helper()
	req := requestTo(t, n, nil, "POST", "/v1/registration/code", api.RequestCode{Number: testkit.TestNumber()}, http.Header{"X-Forwarded-For": {xff}})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Behind a trusted proxy each client has its own budget (IPv6 by /64);
// an untrusted peer's X-Forwarded-For is ignored.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	loopback, err := clientaddr.ParseTrusted("127.0.0.0/8,::1")
	if err != nil {
		t.Fatal(err)
	}
	n := testkit.Start(t, "", func(c *server.Config) {
		c.TrustedProxies = loopback
		c.Devices.CodePerAddress.Burst = 1
	})
	equal(t, "first client", codeFrom(t, n, "203.0.113.1"), http.StatusAccepted)
	equal(t, "first client again", codeFrom(t, n, "203.0.113.1"), http.StatusTooManyRequests)
	equal(t, "second client, spoofed hop on the left", codeFrom(t, n, "203.0.113.1, 203.0.113.2"), http.StatusAccepted)
	equal(t, "an IPv6 client", codeFrom(t, n, "2001:db8:1:2::1"), http.StatusAccepted)
	equal(t, "another address of its /64", codeFrom(t, n, "2001:db8:1:2:ffff::7"), http.StatusTooManyRequests)
	equal(t, "another /64", codeFrom(t, n, "2001:db8:1:3::1"), http.StatusAccepted)

	other, _ := clientaddr.ParseTrusted("10.0.0.0/8")
	u := testkit.Start(t, "", func(c *server.Config) {
		c.TrustedProxies = other
		c.Devices.CodePerAddress.Burst = 1
	})
	equal(t, "untrusted peer", codeFrom(t, u, "203.0.113.1"), http.StatusAccepted)
	equal(t, "untrusted peer, spoofed header", codeFrom(t, u, "203.0.113.9"), http.StatusTooManyRequests)

	// PROXY protocol from a trusted peer names the client; nothing of
	// any address reaches the log.
	p0 := testkit.Start(t, "", func(c *server.Config) {
		c.TrustedProxies = loopback
		c.ProxyProtocol = true
		c.Devices.CodePerAddress.Burst = 1
	})
	cfg := p0.Cfg
	p0.Stop()
	cfg.DataDir = t.TempDir()
	logs := &testkit.SyncBuffer{}
	p := testkit.StartLogged(t, cfg, slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	proxied := func(client string) int {
		t.Helper()
		c, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		body := jsonString(t, api.RequestCode{Number: testkit.TestNumber()})
		fmt.Fprintf(c, "PROXY TCP4 %s 127.0.0.1 40000 80\r\nPOST /v1/registration/code HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", client, len(body), body)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	equal(t, "PROXY client", proxied("198.51.100.1"), http.StatusAccepted)
	equal(t, "PROXY client again", proxied("198.51.100.1"), http.StatusTooManyRequests)
	equal(t, "another PROXY client", proxied("198.51.100.2"), http.StatusAccepted)
	for _, a := range []string{"198.51.100.1", "198.51.100.2", "203.0.113"} {
		if strings.Contains(logs.String(), a) {
			t.Fatalf("client address %s in the log", a)
		}
	}
}
