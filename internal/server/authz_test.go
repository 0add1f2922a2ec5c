package server_test

// The authorization matrix's "another account's device" column: a valid
// device of one account (bob) tries every authenticated route and the
// WebSocket against another account's (alice's) devices, groups,
// attachments and envelopes. TestBadInputUnauthorized covers the other
// columns (no credential, wrong passwords, removed devices, an admin
// token); TestBadInputForbidden the roles inside one account.

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/testkit"
)

// crossKind says what a route does when one account's device aims it at
// another account.
type crossKind int

const (
	// crossDenied: the route names the other account's resource and must be
	// refused (the documented 403 or 404) with no row changed.
	crossDenied crossKind = iota
	// crossOwn: the route acts only on the caller's own account whatever
	// it is given; it succeeds, and the other account is unchanged.
	crossOwn
	// crossPublic: reaching another account is the route's purpose (send
	// it a message, fetch its bundle, look up its number, download an
	// attachment whose id it shared); status only, and why it is allowed.
	crossPublic
)

type crossCase struct {
	pattern string
	as      *testkit.Device // bob unless set
	kind    crossKind
	method  string
	path    string
	body    any
	status  int
	code    string                  // crossDenied
	why     string                  // crossPublic
	check   func(body []byte) error // optional, on the answer
}

func TestAuthorizationOtherAccount(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", biOpenLimits)
	alice := n.Register(t)
	alice2 := n.Link(t, alice, 2)
	carol := n.Register(t)
	bob := n.Register(t)
	ctx := t.Context()

	// Alice's state: keys, a group with carol, a finished and an unfinished
	// attachment, a push registration, and an envelope waiting for her.
	n.MustDo(t, alice, "PUT", "/v1/keys", api.SetKeys{PreKeys: []api.PreKey{{KeyID: 1, PublicKey: testkit.ECKey(t)}, {KeyID: 2, PublicKey: testkit.ECKey(t)}}}, http.StatusNoContent, nil)
	g := createGroup(t, n, alice, carol)
	gp := "/v1/groups/" + g.GroupID
	var done, open api.Upload
	n.MustDo(t, alice, "POST", "/v1/attachments", api.NewAttachment{Size: 10}, http.StatusCreated, &done)
	equal(t, "put part", putPart(t, n, done.Parts[0], []byte("0123456789")), http.StatusOK)
	n.MustDo(t, alice, "POST", "/v1/attachments/"+done.ID+"/complete", nil, http.StatusOK, nil)
	n.MustDo(t, alice, "POST", "/v1/attachments", api.NewAttachment{Size: 10}, http.StatusCreated, &open)
	n.MustDo(t, alice, "PUT", "/v1/push", api.PushRegistration{Kind: api.PushWebPush, Endpoint: "https://push.example.org/p/alice",
		P256DH: testkit.NewWebPushKey(t), Auth: make([]byte, 16)}, http.StatusNoContent, nil)
	n.MustDo(t, carol, "POST", "/v1/messages", testkit.Send(alice.AccountID, []byte("for alice"), alice, alice2), http.StatusOK, nil)

	// aliceState is everything the server holds about alice (her export,
	// without the export's own audit entries and timestamp).
	aliceState := func(t *testing.T) string {
		t.Helper()
		e, err := n.Node.GDPR.Export(ctx, "test", alice.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		e.Generated, e.Audit = time.Time{}, nil
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	initial := aliceState(t)
	if !strings.Contains(initial, g.GroupID) || !strings.Contains(initial, open.ID) || !strings.Contains(initial, `"kind":"webpush"`) {
		t.Fatalf("alice's export lacks her group, attachment or push registration: %s", initial)
	}
	var queued struct {
		Envelopes []struct {
			ID string `json:"id"`
		} `json:"queued_envelopes"`
	}
	if err := json.Unmarshal([]byte(initial), &queued); err != nil || len(queued.Envelopes) != 4 { // the group notice and carol's message, for each device
		t.Fatalf("alice's queued envelopes: %v, %s", err, initial)
	}

	// mentionsNoneOfAlice is for answers about the caller's own account.
	mentionsNoneOfAlice := func(body []byte) error {
		for _, s := range []string{alice.AccountID, alice.Number, g.GroupID, done.ID, open.ID} {
			if strings.Contains(string(body), s) {
				return fmt.Errorf("the answer names alice's %q: %s", s, body)
			}
		}
		return nil
	}
	denied := func(method, path string, body any, status int, code string) crossCase {
		return crossCase{kind: crossDenied, method: method, path: path, body: body, status: status, code: code}
	}
	own := func(method, path string, body any, status int) crossCase {
		return crossCase{kind: crossOwn, method: method, path: path, body: body, status: status, check: mentionsNoneOfAlice}
	}
	public := func(method, path string, body any, status int, why string) crossCase {
		return crossCase{kind: crossPublic, method: method, path: path, body: body, status: status, why: why}
	}
	at := func(pattern string, c crossCase) crossCase { c.pattern = pattern; return c }
	as := func(d *testkit.Device, c crossCase) crossCase { c.as = d; return c }
	dave := n.Register(t)
	// In this order (push: register, read, delete). Bob has no device 2:
	// alice's device 2 is hers alone.
	routes := []crossCase{
		at("POST /v1/devices/provisioning_code", own("POST", "/v1/devices/provisioning_code", nil, http.StatusOK)),
		at("PUT /v1/provisioning/{address}", public("PUT", "/v1/provisioning/"+biAttachmentID, api.ProvisioningMessage{Body: []byte("x")}, http.StatusNotFound, "an address is a one-use capability of a device being linked; what is put there is sealed to that device's key")),
		at("GET /v1/devices", own("GET", "/v1/devices", nil, http.StatusOK)),
		at("DELETE /v1/devices/{device_id}", denied("DELETE", "/v1/devices/2", nil, http.StatusNotFound, api.CodeNotFound)),
		at("PUT /v1/keys", own("PUT", "/v1/keys", api.SetKeys{PreKeys: []api.PreKey{{KeyID: 1, PublicKey: testkit.ECKey(t)}}}, http.StatusNoContent)),
		at("GET /v1/keys/count", own("GET", "/v1/keys/count", nil, http.StatusOK)),
		at("GET /v1/keys/{account_id}/{device_id}", public("GET", "/v1/keys/"+alice.AccountID+"/*", nil, http.StatusOK, "starting a session needs the bundle; fetches are limited per device (--bundle-rate)")),
		at("GET /v1/directory/{number}", public("GET", "/v1/directory/"+alice.Number, nil, http.StatusOK, "finding a contact by number; lookups are limited per account (--directory-rate)")),
		at("POST /v1/messages", public("POST", "/v1/messages", testkit.Send(alice.AccountID, []byte("x"), alice, alice2), http.StatusOK, "sending to another account is the point; the source is the caller's credential")),
		at("POST /v1/groups", own("POST", "/v1/groups", api.CreateGroup{Members: []string{carol.AccountID}}, http.StatusCreated)),
		at("GET /v1/groups", own("GET", "/v1/groups", nil, http.StatusOK)),
		at("GET /v1/groups/{id}", denied("GET", gp, nil, http.StatusNotFound, api.CodeNotFound)),
		at("POST /v1/groups/{id}/members", denied("POST", gp+"/members", api.AddMembers{Members: []string{bob.AccountID}}, http.StatusNotFound, api.CodeNotFound)),
		at("DELETE /v1/groups/{id}/members/{account}", denied("DELETE", gp+"/members/"+carol.AccountID, nil, http.StatusNotFound, api.CodeNotFound)),
		at("POST /v1/groups/{id}/admins", denied("POST", gp+"/admins", api.Promote{AccountID: bob.AccountID}, http.StatusNotFound, api.CodeNotFound)),
		at("POST /v1/groups/{id}/messages", denied("POST", gp+"/messages", groupSend([]byte("x"), alice, alice2, carol), http.StatusNotFound, api.CodeNotFound)),
		at("GET /v1/account/privacy", own("GET", "/v1/account/privacy", nil, http.StatusOK)),
		at("PUT /v1/account/registration-lock", own("PUT", "/v1/account/registration-lock", api.SetRegistrationLock{Token: make([]byte, 32), Salt: make([]byte, 32)}, http.StatusNoContent)),
		at("DELETE /v1/account/registration-lock", own("DELETE", "/v1/account/registration-lock", nil, http.StatusNoContent)),
		at("PUT /v1/account/privacy", own("PUT", "/v1/account/privacy", api.Privacy{LastSeen: api.VisibleEveryone}, http.StatusOK)),
		at("GET /v1/accounts/{id}/last_seen", crossCase{kind: crossDenied, method: "GET", path: "/v1/accounts/" + alice.AccountID + "/last_seen", status: http.StatusOK,
			check: func(body []byte) error { // alice shows her last seen to nobody
				var p api.Presence
				if err := json.Unmarshal(body, &p); err != nil || !p.Hidden || p.Online || p.LastSeen != 0 {
					return fmt.Errorf("alice's presence is not hidden: %s", body)
				}
				return nil
			}}),
		at("POST /v1/attachments", own("POST", "/v1/attachments", api.NewAttachment{Size: 10}, http.StatusCreated)),
		at("GET /v1/attachments/{id}", public("GET", "/v1/attachments/"+done.ID, nil, http.StatusOK, "a finished attachment's id is the capability its recipients are given; the object is ciphertext")),
		at("DELETE /v1/attachments/{id}", denied("DELETE", "/v1/attachments/"+done.ID, nil, http.StatusNotFound, api.CodeNotFound)),
		at("GET /v1/attachments/{id}/upload", denied("GET", "/v1/attachments/"+open.ID+"/upload", nil, http.StatusNotFound, api.CodeNotFound)),
		at("POST /v1/attachments/{id}/complete", denied("POST", "/v1/attachments/"+open.ID+"/complete", nil, http.StatusNotFound, api.CodeNotFound)),
		at("PUT /v1/push", own("PUT", "/v1/push", api.PushRegistration{Kind: api.PushWebPush, Endpoint: "https://push.example.org/p/bob",
			P256DH: testkit.NewWebPushKey(t), Auth: make([]byte, 16)}, http.StatusNoContent)),
		at("GET /v1/push", own("GET", "/v1/push", nil, http.StatusOK)),
		at("DELETE /v1/push", own("DELETE", "/v1/push", nil, http.StatusNoContent)),
		at("GET /v1/push/vapid", public("GET", "/v1/push/vapid", nil, http.StatusOK, "the server's public VAPID key")),
		at("GET /v1/account/export", crossCase{kind: crossOwn, method: "GET", path: "/v1/account/export", status: http.StatusOK,
			check: func(body []byte) error {
				// The metadata of what bob sent alice that still waits
				// names her: bob addressed it. Nothing else may.
				var e map[string]any
				if err := json.Unmarshal(body, &e); err != nil {
					return err
				}
				outbound, _ := e["outbound_envelopes"].([]any)
				for _, o := range outbound {
					if o.(map[string]any)["recipient_account"] == alice.AccountID {
						o.(map[string]any)["recipient_account"] = "alice"
					}
				}
				b, _ := json.Marshal(e)
				return mentionsNoneOfAlice(b)
			}}),
		// dave, who never wrote to alice: an erasure deletes what the
		// erased account sent that is still queued.
		as(dave, at("DELETE /v1/account", own("DELETE", "/v1/account", nil, http.StatusOK))),
		at("GET /v1/websocket", crossCase{kind: crossOwn}), // below
	}
	t.Run("every authenticated route is here", func(t *testing.T) {
		var covered []string
		for _, c := range routes {
			covered = append(covered, c.pattern)
		}
		biAllCovered(t, n, covered)
	})

	for _, c := range routes {
		if c.method == "" {
			continue
		}
		if c.as == nil {
			c.as = bob
		}
		t.Run(c.pattern, func(t *testing.T) {
			before, rows := aliceState(t), biStats(t, n)
			status, hdr, body := biDo(t, n, c.method, c.path, c.body, "", biAs(c.as))
			if c.kind == crossDenied && c.code != "" {
				biCheck(t, status, hdr, body, c.status, c.code)
			} else if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, body)
			}
			if c.check != nil {
				if err := c.check(body); err != nil {
					t.Error(err)
				}
			}
			if c.kind == crossDenied {
				if got := biStats(t, n); !maps.Equal(got, rows) {
					t.Errorf("rows changed: %v, were %v", got, rows)
				}
			}
			if c.kind != crossPublic {
				if after := aliceState(t); after != before {
					t.Errorf("alice's state changed:\n%s\nwas\n%s", after, before)
				}
			}
		})
	}

	t.Run("GET /v1/websocket", func(t *testing.T) {
		// bob is gone (DELETE /v1/account ran last): a fresh account.
		mallory := n.Register(t)
		before := aliceState(t)
		ws := n.Connect(t, mallory)
		for _, e := range queued.Envelopes {
			ws.Ack(e.ID) // alice's envelopes: acks of ids not in mallory's mailbox do nothing
		}
		ws.Write(&wire.Frame{Type: wire.TypeGroupSend, RequestID: "g", GroupSend: &api.GroupSend{GroupID: g.GroupID, Type: 4, Content: []byte("x"),
			Recipients: groupSend(nil, alice, alice2, carol).Recipients}})
		ws.Write(&wire.Frame{Type: wire.TypePresenceFollow, Follow: &api.Follow{Accounts: []string{alice.AccountID}}})
		toSelf := testkit.Send(mallory.AccountID, []byte("to self"), mallory)
		ws.Write(&wire.Frame{Type: wire.TypeSend, RequestID: "s", Send: &toSelf})
		var sawGroup, sawSelf bool
		for !sawGroup || !sawSelf {
			f := ws.Read()
			switch {
			case f.Type == wire.TypeSendResult && f.RequestID == "g":
				sawGroup = true
				if f.Status != http.StatusNotFound || f.Error == nil || f.Error.Code != api.CodeNotFound {
					t.Errorf("group_send to alice's group: %+v", f)
				}
			case f.Type == wire.TypeSendResult && f.RequestID == "s":
				sawSelf = true
			case f.Type == wire.TypePresence:
				if !f.Presence.Hidden || f.Presence.Online || f.Presence.LastSeen != 0 {
					t.Errorf("alice's presence is shown: %+v", f.Presence)
				}
			}
		}
		if after := aliceState(t); after != before {
			t.Errorf("alice's state changed:\n%s\nwas\n%s", after, before)
		}
	})
}
