package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/storetest"
	"github.com/hushmsg/hush/internal/testkit"
	"github.com/hushmsg/hush/internal/testkit/pushtest"
	"github.com/hushmsg/hush/push"
)

// pushFakes are local servers speaking each push service's protocol.
type pushFakes struct {
	apns *pushtest.APNs
	fcm  *pushtest.FCM
	wp   *pushtest.WebPush
	wns  *pushtest.WNS
}

func startPushFakes(t *testing.T) *pushFakes {
	return &pushFakes{apns: pushtest.StartAPNs(t), fcm: pushtest.StartFCM(t), wp: pushtest.StartWebPush(t), wns: pushtest.StartWNS(t)}
}

// configure points a node's providers at the fakes, with short backoffs.
func (f *pushFakes) configure(c *server.Config) {
	c.Providers = server.ProvidersConfig{
		APNs: &push.APNsConfig{Key: f.apns.KeyPEM, KeyID: f.apns.KeyID, TeamID: f.apns.TeamID, Topic: f.apns.Topic,
			Host: f.apns.URL, SandboxHost: f.apns.SandboxURL, RootCAs: f.apns.RootCAs},
		FCM:     &push.FCMConfig{CredentialsJSON: f.fcm.CredentialsJSON, Endpoint: f.fcm.Endpoint, HTTPClient: f.fcm.Client},
		WebPush: &push.WebPushConfig{Subscriber: "mailto:ops@example.org", HTTPClient: f.wp.Client, AllowPrivate: true},
		WNS:     &push.WNSConfig{PackageSID: f.wns.PackageSID, ClientSecret: f.wns.ClientSecret, TokenURL: f.wns.TokenURL, HTTPClient: f.wns.Client, AllowInsecure: true},
	}
	c.Push.Backoff, c.Push.MaxBackoff, c.Push.Timeout = 10*time.Millisecond, 50*time.Millisecond, 2*time.Second
	c.Push.BreakerCooldown = 50 * time.Millisecond
}

// connectReady connects dev and reads and acks up to the end of its
// backlog, so that its session is set up (watching, counted, its wake-up
// re-armed).
func connectReady(t *testing.T, n *testkit.Node, dev *testkit.Device) *testkit.Socket {
	t.Helper()
	ws := n.Connect(t, dev)
	for fr := ws.Read(); fr.Type != wire.TypeQueueEmpty; fr = ws.Read() {
		if fr.Type == wire.TypeEnvelope {
			ws.Ack(fr.Envelope.ID)
		}
	}
	return ws
}

// connectAndLeave connects dev and closes the socket once it is set up.
func connectAndLeave(t *testing.T, n *testkit.Node, dev *testkit.Device) {
	t.Helper()
	before := n.Node.Envelope.Connections()
	ws := connectReady(t, n, dev)
	synced(ws, dev)
	ws.C.CloseNow()
	testkit.WaitFor(t, "the device gone", func() bool { return n.Node.Envelope.Connections() == before })
}

// synced returns once the server has read every frame ws sent before:
// frames are read in order, and it answers this one.
func synced(ws *testkit.Socket, dev *testkit.Device) {
	ws.Write(&wire.Frame{Type: wire.TypePresenceFollow, Follow: &api.Follow{Accounts: []string{dev.AccountID}}})
	for fr := ws.Read(); fr.Type != wire.TypePresence; fr = ws.Read() {
	}
}

func waitPushIdle(t *testing.T, n *testkit.Node) {
	t.Helper()
	testkit.WaitFor(t, "push queue idle", n.Node.Push.Idle)
}

// TestPushWakeUps: an offline device gets one content-free wake-up for a
// burst, an online one none, a connect re-arms it, a non-urgent send
// wakes nobody, a dead token is removed, and a hung provider neither
// delays nor loses a message. One device per provider.
func TestPushWakeUps(t *testing.T) {
	t.Parallel()
	f := startPushFakes(t)
	n := testkit.Start(t, "", f.configure)
	alice, bob := n.Register(t), n.Register(t)
	bobFCM, bobWP, bobWNS := n.Link(t, bob, 2), n.Link(t, bob, 3), n.Link(t, bob, 4)
	bobs := []*testkit.Device{bob, bobFCM, bobWP, bobWNS}

	apnsToken := "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	endpoint, p256dh, auth := f.wp.Subscribe()
	channel := f.wns.Channel()
	n.MustDo(t, bob, "PUT", "/v1/push", api.PushRegistration{Kind: api.PushAPNs, Token: apnsToken}, http.StatusNoContent, nil)
	n.MustDo(t, bobFCM, "PUT", "/v1/push", api.PushRegistration{Kind: api.PushFCM, Token: "fcm-token-1"}, http.StatusNoContent, nil)
	n.MustDo(t, bobWP, "PUT", "/v1/push", api.PushRegistration{Kind: api.PushWebPush, Endpoint: endpoint, P256DH: p256dh, Auth: auth}, http.StatusNoContent, nil)
	n.MustDo(t, bobWNS, "PUT", "/v1/push", api.PushRegistration{Kind: api.PushWNS, ChannelURI: channel}, http.StatusNoContent, nil)
	var st api.PushStatus
	n.MustDo(t, bobWP, "GET", "/v1/push", nil, http.StatusOK, &st)
	equal(t, "registration kind", st.Kind, api.PushWebPush)
	var vapid api.PushVAPID
	n.MustDo(t, bob, "GET", "/v1/push/vapid", nil, http.StatusOK, &vapid)
	equal(t, "vapid key set", vapid.PublicKey != "", true)
	counts := func() [4]int {
		return [4]int{f.apns.Count(apnsToken), f.fcm.Count("fcm-token-1"), f.wp.Count(endpoint), f.wns.Count(channel)}
	}
	send := func(urgent bool) {
		t.Helper()
		req := testkit.Send(bob.AccountID, []byte("CANARY-push-content"), bobs...)
		if !urgent {
			req.Urgent = new(bool)
		}
		n.MustDo(t, alice, "POST", "/v1/messages", req, http.StatusOK, nil)
	}

	// A burst to four offline devices: one wake-up each.
	for range 5 {
		send(true)
	}
	waitPushIdle(t, n)
	equal(t, "wake-ups after a burst", counts(), [4]int{1, 1, 1, 1})
	noContent := func(what string, b []byte) {
		t.Helper()
		for _, secret := range []string{"CANARY", alice.AccountID, bob.AccountID} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s carries %q: %s", what, secret, b)
			}
		}
	}
	ap := f.apns.Pushes()[0]
	equal(t, "apns payload", string(ap.Payload), `{"aps":{"content-available":1}}`)
	noContent("apns push", ap.Payload)
	fm := f.fcm.Messages()[0]
	equal(t, "fcm priority", fm.Priority, "high")
	equal(t, "fcm has no notification", fm.HasNotification, false)
	noContent("fcm message", fm.Raw)
	noContent("web push payload", f.wp.Messages()[0].Payload)
	noContent("wns body", f.wns.Pushes()[0].Body)

	// Still away: more envelopes wake nobody again.
	send(true)
	waitPushIdle(t, n)
	equal(t, "wake-ups while still away", counts(), [4]int{1, 1, 1, 1})

	// The APNs device comes online: it gets the envelope by socket and no
	// push. The FCM device connects and leaves: its next absence wakes it.
	ws := connectReady(t, n, bob)
	connectAndLeave(t, n, bobFCM)
	send(true)
	waitPushIdle(t, n)
	equal(t, "wake-ups after a connect", counts(), [4]int{1, 2, 1, 1})
	fr := ws.Read()
	for ; fr.Type != wire.TypeEnvelope; fr = ws.Read() {
	}
	ws.Ack(fr.Envelope.ID)
	synced(ws, bob)

	// Not urgent: stored, nobody woken.
	connectAndLeave(t, n, bobFCM)
	send(false)
	waitPushIdle(t, n)
	equal(t, "wake-ups after a non-urgent send", counts(), [4]int{1, 2, 1, 1})

	// A dead token is removed.
	ws.C.CloseNow()
	testkit.WaitFor(t, "apns device gone", func() bool { return n.Node.Envelope.Connections() == 0 })
	f.apns.Gone(apnsToken)
	connectAndLeave(t, n, bob) // whatever the close left unacked is taken; the wake-up re-armed
	send(true)
	waitPushIdle(t, n)
	n.Expect(t, bob, "GET", "/v1/push", nil, http.StatusNotFound, api.CodeNotFound)

	// A provider that hangs: sends are answered and the envelope waits in
	// the mailbox; the hung wake-up gives up at the timeout.
	f.wp.SetMode(pushtest.Hang)
	connectAndLeave(t, n, bobWP)
	attempts := f.wp.Attempts()
	send(true)
	testkit.WaitFor(t, "web push attempt", func() bool { return f.wp.Attempts() > attempts })
	wpc := n.Connect(t, bobWP)
	got := 0
	for fr := wpc.Read(); fr.Type != wire.TypeQueueEmpty; fr = wpc.Read() {
		if fr.Type == wire.TypeEnvelope {
			got++
			wpc.Ack(fr.Envelope.ID)
		}
	}
	equal(t, "envelopes waiting for the web push device (since its last visit)", got, 1)
}

// TestPushRetriesAndEphemeral: a provider answering 503 is retried until
// it takes the wake-up; ephemeral sends never push.
func TestPushRetriesAndEphemeral(t *testing.T) {
	t.Parallel()
	f := startPushFakes(t)
	n := testkit.Start(t, "", func(c *server.Config) { f.configure(c); c.Push.Attempts = 1000 })
	alice, bob := n.Register(t), n.Register(t)
	n.MustDo(t, bob, "PUT", "/v1/push", api.PushRegistration{Kind: api.PushFCM, Token: "fcm-retry"}, http.StatusNoContent, nil)

	eph := testkit.Send(bob.AccountID, []byte("typing"), bob)
	eph.Ephemeral = true
	n.MustDo(t, alice, "POST", "/v1/messages", eph, http.StatusOK, nil)
	waitPushIdle(t, n)
	equal(t, "pushes for an ephemeral send", f.fcm.Attempts(), 0)

	f.fcm.SetMode(pushtest.Unavailable)
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("x"), bob), http.StatusOK, nil)
	testkit.WaitFor(t, "three refused attempts", func() bool { return f.fcm.Attempts() >= 3 })
	equal(t, "delivered while unavailable", f.fcm.Count("fcm-retry"), 0)
	f.fcm.SetMode(pushtest.Deliver)
	f.fcm.Wait(t, "fcm-retry", 1)
	waitPushIdle(t, n)
	equal(t, "wake-ups once the service is back", f.fcm.Count("fcm-retry"), 1)
}

// TestClusterPush: a device connected to another node is online for the
// wake-up decision, and of two nodes only one wakes an offline device.
func TestClusterPush(t *testing.T) {
	t.Parallel()
	f := startPushFakes(t)
	db, nats := storetest.PostgresURL(t), storetest.NATSURL(t)
	var nodes []*testkit.Node
	for range 2 {
		nodes = append(nodes, testkit.Start(t, "", func(c *server.Config) { c.DB, c.NATS = db, nats; f.configure(c) }))
	}
	a, b := nodes[0], nodes[1]
	alice, bob := a.Register(t), a.Register(t)
	a.MustDo(t, bob, "PUT", "/v1/push", api.PushRegistration{Kind: api.PushFCM, Token: "fcm-cluster"}, http.StatusNoContent, nil)

	ws := connectReady(t, a, bob)
	b.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("x"), bob), http.StatusOK, nil)
	equal(t, "delivered on the other node", nextEnvelope(t, ws).Type, 3)
	waitPushIdle(t, b)
	equal(t, "pushes to a device online elsewhere", f.fcm.Attempts(), 0)

	ws.C.CloseNow()
	testkit.WaitFor(t, "bob gone", func() bool { return a.Node.Envelope.Connections() == 0 })
	b.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("y"), bob), http.StatusOK, nil)
	a.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("z"), bob), http.StatusOK, nil)
	f.fcm.Wait(t, "fcm-cluster", 1)
	waitPushIdle(t, a)
	waitPushIdle(t, b)
	equal(t, "wake-ups from two nodes", f.fcm.Count("fcm-cluster"), 1)
}

// TestPushAfterUnackedClose: a device that leaves with envelopes it never
// acked is woken for them.
func TestPushAfterUnackedClose(t *testing.T) {
	t.Parallel()
	f := startPushFakes(t)
	n := testkit.Start(t, "", f.configure)
	alice, bob := n.Register(t), n.Register(t)
	n.MustDo(t, bob, "PUT", "/v1/push", api.PushRegistration{Kind: api.PushFCM, Token: "fcm-unacked"}, http.StatusNoContent, nil)
	ws := connectReady(t, n, bob)
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("x"), bob), http.StatusOK, nil)
	nextEnvelope(t, ws) // read, never acked
	waitPushIdle(t, n)
	equal(t, "pushes while online", f.fcm.Attempts(), 0)
	ws.C.CloseNow()
	f.fcm.Wait(t, "fcm-unacked", 1)
}

// webPushDevice registers a new account woken by Web Push at endpoint
// (from one of the fakes).
func webPushDevice(t *testing.T, n *testkit.Node, wp *pushtest.WebPush) (*testkit.Device, string) {
	t.Helper()
	dev := n.Register(t)
	endpoint, p256dh, auth := wp.Subscribe()
	n.MustDo(t, dev, "PUT", "/v1/push", api.PushRegistration{Kind: api.PushWebPush, Endpoint: endpoint, P256DH: p256dh, Auth: auth}, http.StatusNoContent, nil)
	return dev, endpoint
}

// TestPushTarpitDoesNotDelay: push services that answer 429 with a long
// Retry-After hold no worker: their retries wait in the delay queue, and
// a wake-up for another service goes out while they still wait there.
func TestPushTarpitDoesNotDelay(t *testing.T) {
	t.Parallel()
	f := startPushFakes(t)
	// Retry-After is honoured up to an hour: the retries are not due
	// while the test runs.
	n := testkit.Start(t, "", func(c *server.Config) { f.configure(c); c.Push.MaxBackoff = time.Hour })
	alice := n.Register(t)
	const tarpits = 8
	var slow []*pushtest.WebPush
	for range tarpits {
		wp := pushtest.StartWebPush(t) // same test certificate: the node's client trusts it
		wp.SetMode(pushtest.Throttle)
		dev, _ := webPushDevice(t, n, wp)
		slow = append(slow, wp)
		n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(dev.AccountID, []byte("x"), dev), http.StatusOK, nil)
	}
	testkit.WaitFor(t, "every tarpit throttled once and its retry queued", func() bool {
		for _, wp := range slow {
			if wp.Attempts() < 1 {
				return false
			}
		}
		return n.Node.Push.Delayed() == tarpits
	})
	legit, endpoint := webPushDevice(t, n, f.wp)
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(legit.AccountID, []byte("y"), legit), http.StatusOK, nil)
	f.wp.Wait(t, endpoint, 1)
	equal(t, "tarpit retries still waiting when the other wake-up went", n.Node.Push.Delayed(), tarpits)
	for i, wp := range slow {
		equal(t, fmt.Sprintf("attempts at tarpit %d", i), wp.Attempts(), 1)
	}
}

// TestPushHostConcurrency: a push host that never answers gets no more
// than --push-host-concurrency wake-ups at once; the rest wait in its
// line, and other hosts' wake-ups go past them.
func TestPushHostConcurrency(t *testing.T) {
	t.Parallel()
	f := startPushFakes(t)
	n := testkit.Start(t, "", func(c *server.Config) {
		f.configure(c)
		c.Push.HostConcurrency, c.Push.Timeout, c.Push.BreakerFailures = 2, time.Hour, 0
	})
	alice := n.Register(t)
	hang := pushtest.StartWebPush(t)
	hang.SetMode(pushtest.Hang)
	for range 5 {
		dev, _ := webPushDevice(t, n, hang)
		n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(dev.AccountID, []byte("x"), dev), http.StatusOK, nil)
	}
	testkit.WaitFor(t, "two hanging sends", func() bool { return hang.Attempts() >= 2 })
	legit, endpoint := webPushDevice(t, n, f.wp)
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(legit.AccountID, []byte("y"), legit), http.StatusOK, nil)
	f.wp.Wait(t, endpoint, 1)
	equal(t, "most sends at once to the hanging host", hang.MaxInFlight(), 2)
}

// TestPushCircuitBreaker: after --push-breaker-failures failed attempts
// in a row to a host, its wake-ups wait in the delay queue for the
// breaker to let a probe through, instead of being sent.
func TestPushCircuitBreaker(t *testing.T) {
	t.Parallel()
	f := startPushFakes(t)
	n := testkit.Start(t, "", func(c *server.Config) {
		f.configure(c)
		c.Push.HostConcurrency, c.Push.Attempts = 1, 1
		c.Push.BreakerFailures, c.Push.BreakerCooldown = 3, time.Hour
		c.Push.WakeInterval = 2 * time.Hour // held wake-ups outlive the cooldown
	})
	alice := n.Register(t)
	down := pushtest.StartWebPush(t)
	down.SetMode(pushtest.Unavailable)
	for range 5 {
		dev, _ := webPushDevice(t, n, down)
		n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(dev.AccountID, []byte("x"), dev), http.StatusOK, nil)
	}
	testkit.WaitFor(t, "the rest held by the open breaker", func() bool { return n.Node.Push.Delayed() == 2 })
	equal(t, "attempts before the breaker opened", down.Attempts(), 3)
	// Another host is not affected.
	legit, endpoint := webPushDevice(t, n, f.wp)
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(legit.AccountID, []byte("y"), legit), http.StatusOK, nil)
	f.wp.Wait(t, endpoint, 1)
}

// TestPushFailedWakeKeepsInterval: a wake-up that failed keeps its claim,
// so the next envelope does not wake the device again before
// --push-interval; a connection re-arms it.
func TestPushFailedWakeKeepsInterval(t *testing.T) {
	t.Parallel()
	f := startPushFakes(t)
	n := testkit.Start(t, "", func(c *server.Config) { f.configure(c); c.Push.Attempts = 1 })
	alice, bob := n.Register(t), n.Register(t)
	n.MustDo(t, bob, "PUT", "/v1/push", api.PushRegistration{Kind: api.PushFCM, Token: "fcm-interval"}, http.StatusNoContent, nil)
	f.fcm.SetMode(pushtest.Unavailable)
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("x"), bob), http.StatusOK, nil)
	testkit.WaitFor(t, "a failed attempt", func() bool { return f.fcm.Attempts() == 1 })
	waitPushIdle(t, n)
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("y"), bob), http.StatusOK, nil)
	waitPushIdle(t, n)
	equal(t, "attempts after a second envelope within the interval", f.fcm.Attempts(), 1)

	f.fcm.SetMode(pushtest.Deliver)
	connectAndLeave(t, n, bob)
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("z"), bob), http.StatusOK, nil)
	f.fcm.Wait(t, "fcm-interval", 1)
}

// TestPushEndpointRefused: a Web Push endpoint on an IP address, public
// or not, is refused at registration with endpoint_refused, unless the
// node allows private endpoints (--webpush-allow-private).
func TestPushEndpointRefused(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil) // the default: Web Push on, public names only
	dev := n.Register(t)
	key, auth := testkit.NewWebPushKey(t), bytes.Repeat([]byte{7}, 16)
	reg := func(endpoint string) api.PushRegistration {
		return api.PushRegistration{Kind: api.PushWebPush, Endpoint: endpoint, P256DH: key, Auth: auth}
	}
	for _, ep := range []string{
		"https://93.184.215.14/push/a", "https://[2606:4700::1111]/push/a", "https://127.0.0.1:8443/push/a",
		"https://10.0.0.1/push/a", "https://0.1.2.3/push/a", "https://198.18.0.1/push/a", "https://240.0.0.1/push/a",
		"https://[64:ff9b::a00:1]/push/a", "https://[2002:a00:1::1]/push/a", "https://2130706433/push/a",
		"https://localhost/push/a", "http://push.example.org/push/a",
	} {
		e := n.Expect(t, dev, "PUT", "/v1/push", reg(ep), http.StatusBadRequest, api.CodeEndpointRefused)
		if strings.Contains(e.Message, ep) {
			t.Errorf("refusal %q names the endpoint", e.Message)
		}
	}
	n.MustDo(t, dev, "PUT", "/v1/push", reg("https://push.example.org/push/a"), http.StatusNoContent, nil)

	private := testkit.Start(t, "", func(c *server.Config) {
		c.Providers.WebPush = &push.WebPushConfig{Subscriber: "mailto:ops@example.org", AllowPrivate: true, AllowInsecure: true}
	})
	pdev := private.Register(t)
	private.MustDo(t, pdev, "PUT", "/v1/push", reg("http://192.168.1.10:8080/up/a"), http.StatusNoContent, nil)
}
