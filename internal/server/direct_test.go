package server_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
)

// nextEnvelope reads frames until an envelope comes.
func nextEnvelope(t *testing.T, ws *testkit.Socket) *wire.Envelope {
	t.Helper()
	for {
		f := ws.Read()
		if f.Type == wire.TypeEnvelope {
			return f.Envelope
		}
	}
}

// An envelope for a connected device goes to it at once; acked within the
// hold, it is never written to the store, and the sender is answered by
// the ack.
func TestDirectDeliveryAckedIsNeverStored(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) { c.Envelope.LiveHold = time.Hour })
	alice, bob := n.Register(t), n.Register(t)
	ws := n.Connect(t, bob)
	skipKeysLow(t, ws)

	type answer struct {
		status int
		body   []byte
	}
	answered := make(chan answer, 1)
	go func() {
		status, body := n.Do(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("direct"), bob))
		answered <- answer{status, body}
	}()
	env := nextEnvelope(t, ws)
	equal(t, "content", string(env.Content), "direct")
	select {
	case a := <-answered:
		t.Fatalf("the send was answered (%d) before it was durable or acked", a.status)
	default:
	}
	equal(t, "envelopes in the store", biStats(t, n)["envelopes"], 0)

	ws.Ack(env.ID)
	a := <-answered
	equal(t, "send status", a.status, http.StatusOK)
	var res api.SendResult
	if err := json.Unmarshal(a.body, &res); err != nil {
		t.Fatal(err)
	}
	equal(t, "send id", res.ID, env.ID)
	m := scrape(t, n)
	for _, want := range []string{"hush_envelopes_acked_unstored_total 1\n", "hush_envelopes_stored_total 0\n", "hush_envelopes_acked_total 1\n"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	equal(t, "envelopes in the store", biStats(t, n)["envelopes"], 0)

	// Nothing waits for the device on its next connection.
	ws.C.Close(websocket.StatusNormalClosure, "")
	ws = n.Connect(t, bob)
	skipKeysLow(t, ws)
}

// An envelope handed over directly but not acked within the hold is
// stored: the send is answered, and the device gets it again when it
// reconnects.
func TestDirectDeliveryUnackedIsStored(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) { c.Envelope.LiveHold = 5 * time.Millisecond })
	alice, bob := n.Register(t), n.Register(t)
	ws := n.Connect(t, bob)
	skipKeysLow(t, ws)
	var res api.SendResult
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("held"), bob), http.StatusOK, &res)
	env := nextEnvelope(t, ws)
	equal(t, "id", env.ID, res.ID)
	equal(t, "envelopes in the store", biStats(t, n)["envelopes"], 1)

	ws.C.Close(websocket.StatusNormalClosure, "")
	ws = n.Connect(t, bob)
	again := nextEnvelope(t, ws)
	equal(t, "redelivered id", again.ID, res.ID)
	equal(t, "redelivered content", string(again.Content), "held")
	ws.Ack(again.ID)
	testkit.WaitFor(t, "the ack to delete it", func() bool { return biStats(t, n)["envelopes"] == 0 })
	if !strings.Contains(scrape(t, n), "hush_envelopes_hold_expired_total 1\n") {
		t.Error("metrics do not count the expired hold")
	}
}

// Sends over one socket keep their order at the receiver, whichever way
// each envelope goes: with a small window and direct queue, the session
// falls behind, some envelopes go through the store, and it catches up.
func TestDirectDeliveryKeepsOrder(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) {
		c.Envelope.LiveHold = 2 * time.Millisecond
		c.Envelope.Window = 4
		c.Envelope.DirectQueue = 3
	})
	alice, bob := n.Register(t), n.Register(t)
	rx := n.Connect(t, bob)
	skipKeysLow(t, rx)
	tx := n.Connect(t, alice)
	skipKeysLow(t, tx)
	const total = 300
	for i := range total {
		s := testkit.Send(bob.AccountID, []byte{byte(i >> 8), byte(i)}, bob)
		tx.Write(&wire.Frame{Type: wire.TypeSend, RequestID: strconv.Itoa(i + 1), Send: &s})
	}
	seen := map[string]bool{}
	last := -1
	for last < total-1 {
		env := nextEnvelope(t, rx)
		i := int(env.Content[0])<<8 | int(env.Content[1])
		if seen[env.ID] {
			continue // at-least-once: a duplicate may come
		}
		seen[env.ID] = true
		if i != last+1 {
			t.Fatalf("got message %d after %d", i, last)
		}
		last = i
		rx.Ack(env.ID)
	}
	for answered := 0; answered < total; {
		f := tx.Read()
		if f.Type == wire.TypeSendResult {
			equal(t, "send status", f.Status, http.StatusOK)
			answered++
		}
	}
	testkit.WaitFor(t, "every ack to land", func() bool { return biStats(t, n)["envelopes"] == 0 })
	if strings.Contains(scrape(t, n), "hush_direct_queue_overflows_total 0\n") {
		t.Error("the direct queue never overflowed: the test did not cover store mode")
	}
}

// Sends are checked against cached device lists; a device linked or
// removed since must show at once in the 409 answer.
func TestDeviceListCacheFollowsChanges(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice, bob := n.Register(t), n.Register(t)
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("1"), bob), http.StatusOK, nil)
	bob2 := n.Link(t, bob, 77)
	e := n.Expect(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("2"), bob), http.StatusConflict, api.CodeMismatchedDevices)
	if len(e.Mismatched) != 1 || len(e.Mismatched[0].Missing) != 1 || e.Mismatched[0].Missing[0] != bob2.DeviceID {
		t.Fatalf("409 names %+v, want device %d missing", e.Mismatched, bob2.DeviceID)
	}
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("3"), bob, bob2), http.StatusOK, nil)
	n.MustDo(t, bob, "DELETE", "/v1/devices/"+strconv.FormatUint(uint64(bob2.DeviceID), 10), nil, http.StatusNoContent, nil)
	e = n.Expect(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("4"), bob, bob2), http.StatusConflict, api.CodeMismatchedDevices)
	if len(e.Mismatched) != 1 || len(e.Mismatched[0].Extra) != 1 || e.Mismatched[0].Extra[0] != bob2.DeviceID {
		t.Fatalf("409 names %+v, want device %d extra", e.Mismatched, bob2.DeviceID)
	}
}
