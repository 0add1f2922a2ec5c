package server_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/storetest"
	"github.com/hushmsg/hush/internal/testkit"
)

// TestDatabaseOutage: while PostgreSQL is away, requests get 503 with
// Retry-After at once, sockets stay open, and the node recovers by itself;
// nothing accepted before the outage is lost.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	db := storetest.PostgresURL(t)
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testkit.NewProxy(t, u.Host)
	u.Host = proxy.Addr
	n := testkit.Start(t, "", func(c *server.Config) { c.DB = u.String() })
	alice, bob := n.Register(t), n.Register(t)
	var before api.SendResult
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("before"), bob), http.StatusOK, &before)
	ws := n.Connect(t, bob)
	for f := ws.Read(); f.Type != "envelope"; f = ws.Read() {
	}

	proxy.Down()
	e := n.Expect(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("during"), bob), http.StatusServiceUnavailable, api.CodeUnavailable)
	if e.RetryAfter <= 0 {
		t.Fatalf("retry_after = %d", e.RetryAfter)
	}
	n.Expect(t, nil, "GET", "/readyz", nil, http.StatusServiceUnavailable, api.CodeUnavailable)

	proxy.Up()
	testkit.WaitFor(t, "readiness after the outage", func() bool {
		status, _ := n.Do(t, nil, "GET", "/readyz", nil)
		return status == http.StatusOK
	})
	var after api.SendResult
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("after"), bob), http.StatusOK, &after)
	// The same socket, never closed, gets the new envelope.
	f := ws.Read()
	for f.Type != "envelope" {
		f = ws.Read()
	}
	equal(t, "delivered on the socket that lived through the outage", f.Envelope.ID, after.ID)
	// The envelope from before the outage is still there, and only two.
	equal(t, "envelopes kept", envelopeCount(t, n), int64(2))
	ws.Ack(before.ID)
	ws.Ack(after.ID)
	testkit.WaitFor(t, "acks to delete both", func() bool { return envelopeCount(t, n) == 0 })
}
