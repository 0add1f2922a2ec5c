package main

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/internal/testkit"
	"github.com/hushmsg/hush/signal"
)

// ofKind keeps the messages of one kind.
func ofKind(msgs []receivedJSON, kind string) []receivedJSON {
	var out []receivedJSON
	for _, m := range msgs {
		if m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

// register registers dev with the test number +1555000000n.
func (c *cli) register(dev string, n int) string {
	c.t.Helper()
	digit := string(rune('0' + n))
	number := "+155500000" + "0" + digit
	c.run(dev, "register", number, "--code", strings.Repeat(digit, 6))
	return number
}

// jsonOut decodes one JSON object a command printed.
func jsonOut[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	noErr(t, json.Unmarshal([]byte(r.stdout), &v))
	return v
}

// ownDistribution returns the distribution id of dev's current sender key
// of a group ("" when none), reading dev's store while no command runs.
func (c *cli) ownDistribution(dev, groupID string) string {
	c.t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(c.homes, dev))
	noErr(c.t, err)
	defer st.Close()
	g, err := st.Group(context.Background(), groupID)
	noErr(c.t, err)
	if g == nil {
		return ""
	}
	return g.DistributionID
}

// distributions returns the distribution ids of the sender keys dev holds
// for owner's device ownerDev.
func (c *cli) distributions(dev, owner string, ownerDev uint32) []string {
	c.t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(c.homes, dev))
	noErr(c.t, err)
	defer st.Close()
	ids, err := st.SenderKeyDistributions(context.Background(), signal.ProtocolAddress{Name: owner, DeviceID: ownerDev})
	noErr(c.t, err)
	return ids
}

func (c *cli) accountID(dev string) string {
	c.t.Helper()
	var who struct {
		AccountID string `json:"account_id"`
	}
	noErr(c.t, json.Unmarshal([]byte(c.run(dev, "whoami", "--json").stdout), &who))
	return who.AccountID
}

// statusOf returns, from status --json, each recipient's status of the
// message with id, as "number=status" joined by commas.
func (c *cli) statusOf(dev, id string) string {
	c.t.Helper()
	r := c.run(dev, "status", "--id", id, "--json")
	var st struct {
		Recipients []recipientStatus `json:"recipients"`
	}
	noErr(c.t, json.Unmarshal([]byte(r.stdout), &st))
	var out []string
	for _, rc := range st.Recipients {
		out = append(out, rc.Number+"="+rc.Status)
	}
	return strings.Join(out, ",")
}

// TestGroups runs a group of three accounts, one with a linked second
// device: creation, a non-admin's refused add, sends from two members,
// a location, receipts, and a removal after which the removed member gets
// nothing and no longer holds the senders' current keys.
func TestGroups(t *testing.T) {
	c := newCLI(t)
	c.register("alice1", 1)
	bob := c.register("bob1", 2)
	carol := c.register("carol1", 3)
	dave := c.register("dave1", 4)
	c.link("alice2", "alice1")
	aliceID := c.accountID("alice1")

	g := strings.TrimSpace(c.run("alice1", "group", "create", bob, carol).stdout)
	assert(t, g != "" && !strings.Contains(g, " "), "group create printed %q", g)
	show := c.run("alice1", "group", "show", g[:8]).stdout
	assert(t, strings.Contains(show, bob+"  member") && strings.Contains(show, "(you)  admin"), "group show: %q", show)

	// Only admins add.
	r := c.try("bob1", nil, "group", "add", g, dave)
	assert(t, r.code == exitError && strings.Contains(r.stderr, "only an admin"), "bob adds dave: %+v", r)

	sent := jsonOut[map[string]any](t, c.run("alice1", "send", "--group", g, "hello group", "--json"))
	helloID, _ := sent["id"].(string)
	got := c.receive("bob1")
	assert(t, len(ofKind(got, kindGroupChange)) == 1 && strings.Contains(ofKind(got, kindGroupChange)[0].Body, "created the group"),
		"bob1's notices: %+v", got)
	texts := ofKind(got, kindText)
	assert(t, bodies(texts) == "hello group" && texts[0].Group == g && texts[0].FromAccount == aliceID, "bob1 got %+v", texts)
	assert(t, bodies(ofKind(c.receive("carol1"), kindText)) == "hello group", "carol1 did not get the group message")
	got = ofKind(c.receive("alice2"), kindText)
	assert(t, bodies(got) == "hello group" && got[0].Group == g && got[0].FromAccount == aliceID, "alice2 got %+v", got)

	// Receipts: bob1 and carol1 acknowledged delivery as they received.
	c.receive("alice1")
	assert(t, c.statusOf("alice1", helloID) == bob+"=delivered,"+carol+"=delivered" ||
		c.statusOf("alice1", helloID) == carol+"=delivered,"+bob+"=delivered", "status %q", c.statusOf("alice1", helloID))
	c.run("bob1", "read", "--group", g)
	c.receive("alice1")
	st := c.statusOf("alice1", helloID)
	assert(t, strings.Contains(st, bob+"=read") && strings.Contains(st, carol+"=delivered"), "status after bob read: %q", st)

	// Another member sends, and a location.
	c.run("bob1", "send", "--group", g, "hi from bob")
	c.run("carol1", "send", "--group", g, "--location", "52.520008,13.404954,Berlin Mitte")
	got = c.receive("alice1")
	assert(t, bodies(ofKind(got, kindText)) == "hi from bob", "alice1 got %+v", got)
	locs := ofKind(got, kindLocation)
	assert(t, len(locs) == 1 && locs[0].Group == g && locs[0].Location.Label == "Berlin Mitte" && locs[0].Location.Latitude == 52.520008,
		"alice1's locations: %+v", locs)
	assert(t, bodies(ofKind(c.receive("alice2"), kindText)) == "hi from bob", "alice2 missed bob's message")
	c.receive("bob1")
	c.receive("carol1")

	// alice removes carol: carol is told, gets nothing new, and holds
	// none of the keys alice and bob send with afterwards.
	aliceKeyBefore := c.ownDistribution("alice1", g)
	c.run("alice1", "group", "remove", g, carol)
	got = c.receive("carol1")
	notices := ofKind(got, kindGroupChange)
	assert(t, len(notices) == 1 && strings.Contains(notices[0].Body, "removed "+carol), "carol1's notices: %+v", got)
	c.run("alice1", "send", "--group", g, "after carol")
	c.receive("bob1") // the removal notice: bob rotates
	c.run("bob1", "send", "--group", g, "bob after carol")
	assert(t, bodies(ofKind(c.receive("bob1"), kindText)) == "", "bob1 got its own message")
	got = c.receive("alice2")
	assert(t, bodies(ofKind(got, kindText)) == "after carol|bob after carol", "alice2 got %+v", got)
	assert(t, bodies(ofKind(c.receive("alice1"), kindText)) == "bob after carol", "alice1 missed bob's message")
	assert(t, len(ofKind(c.receive("carol1"), kindText)) == 0, "carol1 still gets group messages")

	aliceKey := c.ownDistribution("alice1", g)
	assert(t, aliceKey != "" && aliceKeyBefore != "" && aliceKey != aliceKeyBefore, "alice's key %v, before %v", aliceKey, aliceKeyBefore)
	assert(t, !slices.Contains(c.distributions("carol1", aliceID, 1), aliceKeyBefore), "carol kept alice's key of the group she left")
	assert(t, !slices.Contains(c.distributions("carol1", aliceID, 1), aliceKey), "carol holds alice's new key")
	assert(t, slices.Contains(c.distributions("bob1", aliceID, 1), aliceKey), "bob lacks alice's new key")
	bobID := c.accountID("bob1")
	bobKey := c.ownDistribution("bob1", g)
	assert(t, bobKey != "" && !slices.Contains(c.distributions("carol1", bobID, 1), bobKey), "carol holds bob's new key")
	assert(t, slices.Contains(c.distributions("alice2", bobID, 1), bobKey), "alice2 lacks bob's new key")

	// carol can no longer send to the group.
	r = c.try("carol1", nil, "send", "--group", g, "let me in")
	assert(t, r.code == exitError && strings.Contains(r.stderr, "not a member"), "carol sends: %+v", r)

	// bob chats in the group: he sees alice's message and her typing,
	// his line reaches her, and what chat showed is acknowledged read.
	in, w := io.Pipe()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runWith(t, in, &out, &errOut, "--server", c.url, "--home", filepath.Join(c.homes, "bob1"), "chat", "--group", g)
	}()
	sent = jsonOut[map[string]any](t, c.run("alice1", "send", "--group", g, "are you there?", "--json"))
	thereID, _ := sent["id"].(string)
	testkit.WaitFor(t, "alice's message in bob's chat", func() bool { return strings.Contains(out.String(), "are you there?") })
	c.run("alice1", "typing", "--group", g)
	testkit.WaitFor(t, "alice typing in bob's chat", func() bool {
		return strings.Contains(out.String(), "group "+g[:8]+": "+aliceID+" is typing")
	})
	_, err := io.WriteString(w, "yes, here\n/quit\n")
	noErr(t, err)
	noErr(t, w.Close())
	assert(t, <-done == exitOK, "bob's chat: %q", errOut.String())
	got = c.receive("alice1")
	assert(t, bodies(ofKind(got, kindText)) == "yes, here" && got[len(got)-1].Group == g, "alice1 got %+v", got)
	assert(t, c.statusOf("alice1", thereID) == bob+"=read", "status of the message bob's chat showed: %q", c.statusOf("alice1", thereID))
}

// TestReceiptsAndLocation checks 1:1 receipts through delivered and read
// in status, and a location round trip.
func TestReceiptsAndLocation(t *testing.T) {
	c := newCLI(t)
	alice := c.register("alice", 1)
	bob := c.register("bob", 2)
	sent := jsonOut[map[string]any](t, c.run("alice", "send", bob, "did you get this?", "--json"))
	id, _ := sent["id"].(string)
	assert(t, c.statusOf("alice", id) == bob+"=sent", "status before delivery %q", c.statusOf("alice", id))
	c.receive("bob")
	assert(t, len(c.receive("alice")) == 0, "alice printed a receipt")
	assert(t, c.statusOf("alice", id) == bob+"=delivered", "status after delivery %q", c.statusOf("alice", id))
	r := c.run("bob", "read", alice)
	assert(t, strings.Contains(r.stdout, "did you get this?"), "read showed %q", r.stdout)
	r = c.run("bob", "read", alice)
	assert(t, r.stdout == "" && strings.Contains(r.stderr, "no unread"), "second read: %+v", r)
	c.receive("alice")
	assert(t, c.statusOf("alice", id) == bob+"=read", "status after read %q", c.statusOf("alice", id))
	txt := c.run("alice", "status", bob).stdout
	assert(t, strings.Contains(txt, id) && strings.Contains(txt, bob+": read at"), "status text %q", txt)

	c.run("alice", "send", bob, "--location", "-33.856784,151.215297,Opera House, Sydney")
	got := c.receive("bob")
	assert(t, len(got) == 1 && got[0].Kind == kindLocation && got[0].Location.Longitude == 151.215297 &&
		got[0].Location.Label == "Opera House, Sydney", "bob got %+v", got)
	c.run("alice", "send", bob, "--location", "48.8584,2.2945")
	r = c.run("bob", "receive")
	assert(t, strings.Contains(r.stdout, "location 48.858400, 2.294500 https://www.openstreetmap.org/?mlat=48.858400&mlon=2.294500"), "receive printed %q", r.stdout)
	for _, bad := range []string{"91,0", "0,-180.5", "x,1", "1"} {
		r = c.try("alice", nil, "send", bob, "--location", bad)
		assert(t, r.code == exitUsage && strings.Contains(r.stderr, "--location"), "--location %s: %+v", bad, r)
	}
}

// TestTypingAndLastSeen checks presence in chat, typing notices shown by
// chat, and that last-seen respects the privacy setting.
func TestTypingAndLastSeen(t *testing.T) {
	c := newCLI(t)
	alice := c.register("alice", 1)
	bob := c.register("bob", 2)

	assert(t, strings.TrimSpace(c.run("bob", "privacy").stdout) == "last-seen: nobody", "default privacy")
	r := c.run("alice", "last-seen", bob)
	assert(t, strings.Contains(r.stdout, "hides when it was last seen"), "last-seen while hidden: %q", r.stdout)
	c.run("bob", "privacy", "last-seen", "everyone")
	assert(t, strings.TrimSpace(c.run("bob", "privacy").stdout) == "last-seen: everyone", "privacy after the change")
	r = c.run("alice", "last-seen", bob, "--json")
	assert(t, !strings.Contains(r.stdout, `"hidden":true`) && strings.Contains(r.stdout, `"last_seen":`), "last-seen shown: %q", r.stdout)
	r = c.try("bob", nil, "privacy", "last-seen", "friends")
	assert(t, r.code == exitUsage, "privacy last-seen friends: %+v", r)

	// bob chats with alice: chat follows her presence (she hides it),
	// then shows her typing.
	c.run("alice", "send", bob, "hello") // a session, so typing needs no 409 round
	in, w := io.Pipe()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runWith(t, in, &out, &errOut, "--server", c.url, "--home", filepath.Join(c.homes, "bob"), "chat", alice)
	}()
	testkit.WaitFor(t, "alice's presence in bob's chat", func() bool {
		return strings.Contains(out.String(), alice+" hides when it was last seen")
	})
	c.run("alice", "typing", bob)
	testkit.WaitFor(t, "typing in bob's chat", func() bool { return strings.Contains(out.String(), alice+" is typing") })
	c.run("alice", "typing", bob, "--stop")
	testkit.WaitFor(t, "typing stopped", func() bool { return strings.Contains(out.String(), alice+" stopped typing") })
	_, err := io.WriteString(w, "/quit\n")
	noErr(t, err)
	noErr(t, w.Close())
	assert(t, <-done == exitOK, "chat: %q", errOut.String())
	assert(t, strings.Contains(out.String(), "hello"), "chat did not show the waiting message: %q", out.String())
	// Typing is ephemeral: nothing of it waits for a later receive.
	got := c.receive("bob")
	assert(t, len(got) == 0, "bob received later: %+v", got)
	// chat acknowledged the message it showed as read.
	c.receive("alice")
	r = c.run("alice", "status", bob, "--json")
	assert(t, strings.Contains(r.stdout, `"status":"read"`), "status after chat: %q", r.stdout)
}
