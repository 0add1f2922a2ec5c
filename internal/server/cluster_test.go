package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/storetest"
	"github.com/hushmsg/hush/internal/testkit"
)

// startCluster runs n in-process nodes on one PostgreSQL database and NATS.
func startCluster(t *testing.T, n int) []*testkit.Node {
	t.Helper()
	db, nats := storetest.PostgresURL(t), storetest.NATSURL(t)
	var nodes []*testkit.Node
	for range n {
		nodes = append(nodes, testkit.Start(t, "", func(c *server.Config) { c.DB, c.NATS = db, nats }))
	}
	return nodes
}

func TestClusterDeliversAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	alice := a.Register(t)
	bob := a.Register(t)
	bob2 := a.Link(t, bob, 2)
	wsB := b.Connect(t, bob)
	skipKeysLow(t, wsB)
	wsC := c.Connect(t, bob2)
	skipKeysLow(t, wsC)

	var res api.SendResult
	a.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("across"), bob, bob2), http.StatusOK, &res)
	for _, ws := range []*testkit.Socket{wsB, wsC} {
		f := ws.Read()
		equal(t, "live delivery on another node", f.Envelope.ID, res.ID)
		ws.Ack(res.ID)
	}

	// Ephemeral envelopes cross nodes too, and are not stored.
	send := testkit.Send(bob.AccountID, []byte("typing"), bob, bob2)
	send.Ephemeral = true
	a.MustDo(t, alice, "POST", "/v1/messages", send, http.StatusOK, nil)
	equal(t, "ephemeral on node B", wsB.Read().Envelope.Ephemeral, true)
	equal(t, "ephemeral on node C", wsC.Read().Envelope.Ephemeral, true)
}

func TestClusterDisplacementAndRemoval(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	alice := a.Register(t)
	alice2 := a.Link(t, alice, 2)

	first := a.Connect(t, alice2)
	skipKeysLow(t, first)
	second := b.Connect(t, alice2)
	equal(t, "older connection on the other node", first.CloseStatus(), websocket.StatusCode(wire.CloseDisplaced))
	skipKeysLow(t, second)

	a.MustDo(t, alice, "DELETE", "/v1/devices/2", nil, http.StatusNoContent, nil)
	equal(t, "removed device's socket on the other node", second.CloseStatus(), websocket.StatusCode(wire.CloseDeviceRemoved))
}

func TestClusterKeysLowAndProvisioning(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	alice, bob := a.Register(t), a.Register(t)
	ws := b.Connect(t, bob)
	skipKeysLow(t, ws)
	a.MustDo(t, alice, "GET", "/v1/keys/"+bob.AccountID+"/*", nil, http.StatusOK, nil)
	equal(t, "keys_low across nodes", ws.Read().Type, wire.TypeKeysLow)

	c, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(b.URL, "http")+"/v1/provisioning", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_, msg, err := c.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f, err := wire.Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	a.Expect(t, alice, "PUT", "/v1/provisioning/nobody-here", api.ProvisioningMessage{Body: []byte("x")}, http.StatusNotFound, api.CodeNotFound)
	a.MustDo(t, alice, "PUT", "/v1/provisioning/"+f.Address, api.ProvisioningMessage{Body: []byte("sealed")}, http.StatusNoContent, nil)
	_, msg, err = c.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f, err = wire.Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "provisioning message relayed across nodes", string(f.Body), "sealed")
}

// A device linked on one node shows in the device check of sends on
// another node that had the account's list cached.
func TestClusterDeviceListCache(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	alice, bob := a.Register(t), a.Register(t)
	a.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("1"), bob), http.StatusOK, nil)
	bob2 := b.Link(t, bob, 77)
	testkit.WaitFor(t, "node A to hear of the new device", func() bool {
		status, _ := a.Do(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("2"), bob))
		return status == http.StatusConflict
	})
	a.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("3"), bob, bob2), http.StatusOK, nil)
}

// Presence spans nodes: an account connected to one node is online to a
// follower on another, and goes offline there when its last device leaves.
// A group send on one node reaches a member connected to the other.
func TestClusterPresenceAndGroups(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	alice, bob := a.Register(t), a.Register(t)
	b.MustDo(t, bob, "PUT", "/v1/account/privacy", api.Privacy{LastSeen: api.VisibleEveryone}, http.StatusOK, nil)

	ws := a.Connect(t, alice)
	skipKeysLow(t, ws)
	ws.Write(&wire.Frame{Type: wire.TypePresenceFollow, Follow: &api.Follow{Accounts: []string{bob.AccountID}}})
	f := ws.Read()
	equal(t, "bob offline at first", f.Type == wire.TypePresence && !f.Presence.Online && !f.Presence.Hidden, true)

	bws := b.Connect(t, bob)
	skipKeysLow(t, bws)
	f = ws.Read()
	equal(t, "bob online, seen across nodes", f.Presence.Online, true)
	var p api.Presence
	a.MustDo(t, alice, "GET", "/v1/accounts/"+bob.AccountID+"/last_seen", nil, http.StatusOK, &p)
	equal(t, "online asked across nodes", p.Online, true)

	var g api.Group
	a.MustDo(t, alice, "POST", "/v1/groups", api.CreateGroup{Members: []string{bob.AccountID}}, http.StatusCreated, &g)
	nextChange(t, bws)
	a.MustDo(t, alice, "POST", "/v1/groups/"+g.GroupID+"/messages", groupSend([]byte("hi group"), bob), http.StatusOK, nil)
	env := nextEnvelope(t, bws)
	equal(t, "group message across nodes", string(env.Content), "hi group")
	bws.Ack(env.ID)

	bws.C.CloseNow()
	for {
		f = ws.Read()
		if f.Type == wire.TypePresence {
			break
		}
	}
	equal(t, "bob offline after leaving node B", f.Presence.Online, false)
}
