package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
)

// groupSend names every device in to for one shared ciphertext.
func groupSend(content []byte, to ...*testkit.Device) api.GroupSend {
	g := api.GroupSend{Type: 4, Content: content, Recipients: []api.GroupRecipient{}}
	for _, d := range to {
		g.Recipients = append(g.Recipients, api.GroupRecipient{AccountID: d.AccountID, DeviceID: d.DeviceID, RegistrationID: d.RegistrationID})
	}
	return g
}

func createGroup(t *testing.T, n *testkit.Node, admin *testkit.Device, members ...*testkit.Device) api.Group {
	t.Helper()
	var ids []string
	for _, m := range members {
		ids = append(ids, m.AccountID)
	}
	var g api.Group
	n.MustDo(t, admin, "POST", "/v1/groups", api.CreateGroup{Members: ids}, http.StatusCreated, &g)
	return g
}

// nextChange reads frames until a group change notice comes, and acks it.
func nextChange(t *testing.T, ws *testkit.Socket) api.GroupChange {
	t.Helper()
	env := nextEnvelope(t, ws)
	if env.Type != wire.EnvelopeGroupChange || env.SourceAccount != "" || env.SourceDevice != 0 {
		t.Fatalf("envelope type %d from %q.%d, want a group change notice from the server", env.Type, env.SourceAccount, env.SourceDevice)
	}
	var c api.GroupChange
	if err := json.Unmarshal(env.Content, &c); err != nil {
		t.Fatal(err)
	}
	equal(t, "notice group", env.Group, c.GroupID)
	ws.Ack(env.ID)
	return c
}

func memberIDs(ms []api.GroupMember) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.AccountID+":"+m.Role)
	}
	slices.Sort(out)
	return out
}

// Only admins add, remove and promote; members see the group, others do
// not; every change reaches every member device in version order, and the
// removed member's devices hear of their removal without the member list.
func TestGroupMembership(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice, bob, carol, dave := n.Register(t), n.Register(t), n.Register(t), n.Register(t)
	carol2 := n.Link(t, carol, 7)
	g := createGroup(t, n, alice, bob)
	equal(t, "version", g.Version, int64(1))
	equal(t, "members", len(g.Members), 2)
	path := "/v1/groups/" + g.GroupID

	n.Expect(t, dave, "GET", path, nil, http.StatusNotFound, api.CodeNotFound)
	n.Expect(t, bob, "POST", path+"/members", api.AddMembers{Members: []string{carol.AccountID}}, http.StatusForbidden, api.CodeForbidden)
	n.Expect(t, bob, "DELETE", path+"/members/"+alice.AccountID, nil, http.StatusForbidden, api.CodeForbidden)
	n.Expect(t, bob, "POST", path+"/admins", api.Promote{AccountID: bob.AccountID}, http.StatusForbidden, api.CodeForbidden)
	n.Expect(t, dave, "POST", path+"/members", api.AddMembers{Members: []string{dave.AccountID}}, http.StatusNotFound, api.CodeNotFound)
	n.Expect(t, alice, "POST", path+"/members", api.AddMembers{Members: []string{"9b2f0c6e-0000-4000-8000-000000000000"}}, http.StatusNotFound, api.CodeNotFound)
	n.Expect(t, alice, "GET", "/v1/groups/not-a-group", nil, http.StatusBadRequest, api.CodeBadRequest)

	n.MustDo(t, alice, "POST", path+"/members", api.AddMembers{Members: []string{carol.AccountID}}, http.StatusOK, &g)
	n.MustDo(t, alice, "POST", path+"/admins", api.Promote{AccountID: carol.AccountID}, http.StatusOK, &g)
	n.MustDo(t, carol, "DELETE", path+"/members/"+bob.AccountID, nil, http.StatusNoContent, nil)
	n.MustDo(t, alice, "GET", path, nil, http.StatusOK, &g)
	equal(t, "version", g.Version, int64(4))
	want := []string{alice.AccountID + ":admin", carol.AccountID + ":admin"}
	slices.Sort(want)
	equal(t, "members", slices.Equal(memberIDs(g.Members), want), true)
	n.Expect(t, bob, "GET", path, nil, http.StatusNotFound, api.CodeNotFound)
	var list api.GroupList
	n.MustDo(t, carol2, "GET", "/v1/groups", nil, http.StatusOK, &list)
	equal(t, "carol's groups", len(list.Groups), 1)
	equal(t, "carol's role", list.Groups[0].Role, api.RoleAdmin)

	// Bob saw: created, carol added, carol promoted, himself removed.
	ws := n.Connect(t, bob)
	for i, action := range []string{api.GroupCreated, api.GroupAdded, api.GroupPromoted, api.GroupRemoved} {
		c := nextChange(t, ws)
		equal(t, "bob's change action", c.Action, action)
		equal(t, "bob's change version", c.Version, int64(i+1))
		equal(t, "members shown to bob", len(c.Members) > 0, action != api.GroupRemoved)
	}
	// Carol's second device saw every change from her addition on.
	ws2 := n.Connect(t, carol2)
	for i, action := range []string{api.GroupAdded, api.GroupPromoted, api.GroupRemoved} {
		c := nextChange(t, ws2)
		equal(t, "carol's change action", c.Action, action)
		equal(t, "carol's change version", c.Version, int64(i+2))
	}

	// The last admin leaving hands the group to the longest-standing member.
	n.MustDo(t, alice, "DELETE", path+"/members/"+alice.AccountID, nil, http.StatusNoContent, nil)
	n.MustDo(t, carol, "DELETE", path+"/members/"+carol.AccountID, nil, http.StatusNoContent, nil)
	n.Expect(t, carol, "GET", path, nil, http.StatusNotFound, api.CodeNotFound)
	equal(t, "groups left", biStats(t, n)["groups"], 0)
	equal(t, "members left", biStats(t, n)["group_members"], 0)
}

func TestGroupAdminHandOver(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice, bob, carol := n.Register(t), n.Register(t), n.Register(t)
	g := createGroup(t, n, alice, bob, carol)
	n.MustDo(t, alice, "DELETE", "/v1/groups/"+g.GroupID+"/members/"+alice.AccountID, nil, http.StatusNoContent, nil)
	n.MustDo(t, bob, "GET", "/v1/groups/"+g.GroupID, nil, http.StatusOK, &g)
	admins := 0
	for _, m := range g.Members {
		if m.Role == api.RoleAdmin {
			admins++
		}
	}
	equal(t, "admins after the last one left", admins, 1)
}

// A group send stores one payload for every device; each device gets the
// same ciphertext with the group id; the payload goes with the last ack.
// A wrong device set gets 409 or 410, as a 1:1 send does.
func TestGroupSendSharesOnePayload(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) { c.Envelope.LiveHold = 0 })
	alice, bob, carol, dave := n.Register(t), n.Register(t), n.Register(t), n.Register(t)
	alice2, carol2 := n.Link(t, alice, 5), n.Link(t, carol, 6)
	g := createGroup(t, n, alice, bob, carol)
	path := "/v1/groups/" + g.GroupID + "/messages"
	var sockets []*testkit.Socket
	for _, d := range []*testkit.Device{alice2, bob, carol, carol2} {
		ws := n.Connect(t, d)
		for range 1 {
			nextChange(t, ws) // created
		}
		sockets = append(sockets, ws)
	}
	// Only the notice for alice's first device, not connected, is left.
	testkit.WaitFor(t, "the notices' acks", func() bool { return biStats(t, n)["envelopes"] == 1 })
	before := biStats(t, n)

	e := n.Expect(t, alice, "POST", path, groupSend([]byte("x"), bob, carol), http.StatusConflict, api.CodeMismatchedDevices)
	equal(t, "mismatched accounts", len(e.Mismatched), 2) // alice's other device, carol's second
	e = n.Expect(t, alice, "POST", path, groupSend([]byte("x"), alice2, bob, carol, carol2, dave), http.StatusConflict, api.CodeMismatchedDevices)
	equal(t, "extra account", e.Mismatched[0].AccountID, dave.AccountID)
	stale := *carol2
	stale.RegistrationID = 99
	n.Expect(t, alice, "POST", path, groupSend([]byte("x"), alice2, bob, carol, &stale), http.StatusGone, api.CodeStaleDevices)
	n.Expect(t, dave, "POST", path, groupSend([]byte("x"), bob), http.StatusNotFound, api.CodeNotFound)
	n.Expect(t, alice, "POST", path, api.GroupSend{Type: 0, Content: []byte("x")}, http.StatusBadRequest, api.CodeBadRequest)
	equal(t, "rows after refused sends", biStats(t, n)["envelopes"], before["envelopes"])

	var res api.SendResult
	n.MustDo(t, alice, "POST", path, groupSend([]byte("sender key ciphertext"), alice2, bob, carol, carol2), http.StatusOK, &res)
	st := biStats(t, n)
	equal(t, "payloads", st["payloads"], before["payloads"]+1)
	equal(t, "envelopes", st["envelopes"], before["envelopes"]+4)
	for _, ws := range sockets {
		env := nextEnvelope(t, ws)
		equal(t, "id", env.ID, res.ID)
		equal(t, "group", env.Group, g.GroupID)
		equal(t, "content", string(env.Content), "sender key ciphertext")
		equal(t, "source", env.SourceAccount, alice.AccountID)
		ws.Ack(env.ID)
	}
	testkit.WaitFor(t, "the acks to delete every envelope and the payload", func() bool {
		st := biStats(t, n)
		return st["envelopes"] == before["envelopes"] && st["payloads"] == before["payloads"]
	})
}

// A removed device's envelopes release their payload too, and a removed
// member gets nothing sent after the removal.
func TestGroupPayloadReleasedAndRemovedMemberCutOff(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) { c.Envelope.LiveHold = 0 })
	alice, bob, carol := n.Register(t), n.Register(t), n.Register(t)
	bob2 := n.Link(t, bob, 3)
	g := createGroup(t, n, alice, bob, carol)
	path := "/v1/groups/" + g.GroupID
	n.MustDo(t, alice, "POST", path+"/messages", groupSend([]byte("m1"), bob, bob2, carol), http.StatusOK, nil)
	equal(t, "payloads", biStats(t, n)["payloads"], 2) // the creation notice and m1

	// Removing bob's second device drops its envelopes; the payloads stay
	// for the others.
	n.MustDo(t, bob, "DELETE", "/v1/devices/"+strconv.FormatUint(uint64(bob2.DeviceID), 10), nil, http.StatusNoContent, nil)
	n.MustDo(t, alice, "DELETE", path+"/members/"+bob.AccountID, nil, http.StatusNoContent, nil)
	n.Expect(t, alice, "POST", path+"/messages", groupSend([]byte("m2"), bob, carol), http.StatusConflict, api.CodeMismatchedDevices)
	n.MustDo(t, alice, "POST", path+"/messages", groupSend([]byte("m2"), carol), http.StatusOK, nil)

	ws := n.Connect(t, bob)
	var got []string
	for {
		f := ws.Read()
		if f.Type == wire.TypeQueueEmpty {
			break
		}
		if f.Type == wire.TypeEnvelope {
			got = append(got, string(f.Envelope.Content[:min(2, len(f.Envelope.Content))]))
			ws.Ack(f.Envelope.ID)
		}
	}
	equal(t, "bob's envelopes (created, m1, removed)", len(got), 3)
	equal(t, "bob's message", got[1], "m1")

	drain(t, n.Connect(t, carol))
	testkit.WaitFor(t, "payloads left for alice (created, removed)", func() bool { return biStats(t, n)["payloads"] == 2 })
	drain(t, n.Connect(t, alice))
	testkit.WaitFor(t, "every payload to go with its last envelope", func() bool {
		st := biStats(t, n)
		return st["payloads"] == 0 && st["envelopes"] == 0
	})
}

// Typing in a group reaches online members and is never stored.
func TestGroupTypingIsEphemeral(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice, bob, carol := n.Register(t), n.Register(t), n.Register(t)
	g := createGroup(t, n, alice, bob, carol)
	ws := n.Connect(t, bob)
	nextChange(t, ws)
	skipKeysLow(t, ws)
	testkit.WaitFor(t, "bob's ack", func() bool { return biStats(t, n)["envelopes"] == 2 })
	before := biStats(t, n)
	typing := groupSend([]byte("typing"), bob, carol)
	typing.Ephemeral = true
	n.MustDo(t, alice, "POST", "/v1/groups/"+g.GroupID+"/messages", typing, http.StatusOK, nil)
	env := nextEnvelope(t, ws)
	equal(t, "ephemeral", env.Ephemeral, true)
	equal(t, "group", env.Group, g.GroupID)
	after := biStats(t, n)
	equal(t, "envelopes", after["envelopes"], before["envelopes"])
	equal(t, "payloads", after["payloads"], before["payloads"])
}

// Last seen is hidden by default, shown to everyone when allowed, with
// online while a device is connected; followers hear of the changes.
func TestPresence(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice, bob := n.Register(t), n.Register(t)
	var p api.Presence
	n.MustDo(t, alice, "GET", "/v1/accounts/"+bob.AccountID+"/last_seen", nil, http.StatusOK, &p)
	equal(t, "hidden by default", p.Hidden, true)
	var priv api.Privacy
	n.MustDo(t, bob, "GET", "/v1/account/privacy", nil, http.StatusOK, &priv)
	equal(t, "default setting", priv.LastSeen, api.VisibleNobody)
	n.Expect(t, bob, "PUT", "/v1/account/privacy", api.Privacy{LastSeen: "friends"}, http.StatusBadRequest, api.CodeBadRequest)
	var unknown api.Presence
	n.MustDo(t, alice, "GET", "/v1/accounts/9b2f0c6e-0000-4000-8000-000000000000/last_seen", nil, http.StatusOK, &unknown)
	equal(t, "an unknown account looks hidden", unknown.Hidden, true)

	ws := n.Connect(t, alice)
	skipKeysLow(t, ws)
	ws.Write(&wire.Frame{Type: wire.TypePresenceFollow, Follow: &api.Follow{Accounts: []string{bob.AccountID}}})
	f := ws.Read()
	equal(t, "frame", f.Type, wire.TypePresence)
	equal(t, "hidden", f.Presence.Hidden, true)

	n.MustDo(t, bob, "PUT", "/v1/account/privacy", api.Privacy{LastSeen: api.VisibleEveryone}, http.StatusOK, nil)
	f = ws.Read()
	equal(t, "offline after allowing", f.Presence.Online || f.Presence.Hidden, false)
	if f.Presence.LastSeen%60 != 0 || f.Presence.LastSeen < time.Now().Unix()-120 {
		t.Fatalf("last seen %d: not a recent whole minute", f.Presence.LastSeen)
	}

	bws := n.Connect(t, bob)
	f = ws.Read()
	equal(t, "online on connect", f.Presence.Online, true)
	n.MustDo(t, alice, "GET", "/v1/accounts/"+bob.AccountID+"/last_seen", nil, http.StatusOK, &p)
	equal(t, "online", p.Online, true)
	bws.C.CloseNow()
	f = ws.Read()
	equal(t, "offline on disconnect", f.Presence.Online, false)

	n.MustDo(t, bob, "PUT", "/v1/account/privacy", api.Privacy{LastSeen: api.VisibleNobody}, http.StatusOK, nil)
	f = ws.Read()
	equal(t, "hidden again", f.Presence.Hidden, true)
	var hidden api.Presence
	n.MustDo(t, alice, "GET", "/v1/accounts/"+bob.AccountID+"/last_seen", nil, http.StatusOK, &hidden)
	equal(t, "hidden", hidden.Hidden && !hidden.Online && hidden.LastSeen == 0, true)
}

// drain acks everything waiting for a device.
func drain(t *testing.T, ws *testkit.Socket) {
	t.Helper()
	for {
		f := ws.Read()
		if f.Type == wire.TypeQueueEmpty {
			return
		}
		if f.Type == wire.TypeEnvelope {
			ws.Ack(f.Envelope.ID)
		}
	}
}
