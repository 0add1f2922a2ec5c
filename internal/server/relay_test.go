package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
)

func equal[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func TestRegistrationWithSMSCode(t *testing.T) {
	t.Parallel()
	n, gw := smsNode(t, nil)
	const number = "+14155552671"
	id := testkit.NewIdentity(t)
	verify := api.Verify{Number: number, IdentityKey: id.Public(), DeviceKeys: id.DeviceKeys(t, 42)}

	n.Expect(t, nil, "POST", "/v1/registration/verify", verify, http.StatusForbidden, api.CodeInvalidCode) // no code requested
	n.MustDo(t, nil, "POST", "/v1/registration/code", api.RequestCode{Number: number}, http.StatusAccepted, nil)
	code := gw.Code(t, number)
	equal(t, "code length", len(code), 6)

	verify.Code = "000000"
	if code == verify.Code {
		verify.Code = "000001"
	}
	n.Expect(t, nil, "POST", "/v1/registration/verify", verify, http.StatusForbidden, api.CodeInvalidCode)
	verify.Code = code
	var creds api.Credentials
	n.MustDo(t, nil, "POST", "/v1/registration/verify", verify, http.StatusOK, &creds)
	equal(t, "device id", creds.DeviceID, uint32(1))
	if len(creds.Password) < 40 {
		t.Fatalf("password too short: %d chars", len(creds.Password))
	}
	// The code is used up.
	n.Expect(t, nil, "POST", "/v1/registration/verify", verify, http.StatusForbidden, api.CodeInvalidCode)

	// The password is stored only as a hash: it is nowhere in the data directory.
	n.Stop()
	assertNotInDir(t, n.DataDir, creds.Password)
}

func assertNotInDir(t *testing.T, dir, secret string) {
	t.Helper()
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), secret) {
			t.Errorf("%s holds the secret", filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCodeTriesAndRateLimits(t *testing.T) {
	t.Parallel()
	n, gw := smsNode(t, func(c *server.Config) { c.Devices.CodePerNumber.Burst = 2 })
	const number = "+447911123456"
	n.MustDo(t, nil, "POST", "/v1/registration/code", api.RequestCode{Number: number}, http.StatusAccepted, nil)
	code := gw.Code(t, number)
	id := testkit.NewIdentity(t)
	wrong := "999999"
	if code == wrong {
		wrong = "999998"
	}
	verify := api.Verify{Number: number, Code: wrong, IdentityKey: id.Public(), DeviceKeys: id.DeviceKeys(t, 1)}
	for range 5 {
		n.Expect(t, nil, "POST", "/v1/registration/verify", verify, http.StatusForbidden, api.CodeInvalidCode)
	}
	verify.Code = code // right, but too late
	n.Expect(t, nil, "POST", "/v1/registration/verify", verify, http.StatusTooManyRequests, api.CodeTooManyAttempts)

	n.MustDo(t, nil, "POST", "/v1/registration/code", api.RequestCode{Number: number}, http.StatusAccepted, nil)
	e := n.Expect(t, nil, "POST", "/v1/registration/code", api.RequestCode{Number: number}, http.StatusTooManyRequests, api.CodeRateLimited)
	if e.RetryAfter <= 0 {
		t.Fatalf("retry_after = %d", e.RetryAfter)
	}
	// A new code after the limit resets the tries.
	verify.Code = gw.Code(t, number)
	n.MustDo(t, nil, "POST", "/v1/registration/verify", verify, http.StatusOK, nil)
}

func TestExpiredCode(t *testing.T) {
	t.Parallel()
	n, gw := smsNode(t, func(c *server.Config) { c.Devices.CodeTTL = -time.Second })
	const number = "+4915112345678"
	n.MustDo(t, nil, "POST", "/v1/registration/code", api.RequestCode{Number: number}, http.StatusAccepted, nil)
	id := testkit.NewIdentity(t)
	verify := api.Verify{Number: number, Code: gw.Code(t, number), IdentityKey: id.Public(), DeviceKeys: id.DeviceKeys(t, 1)}
	n.Expect(t, nil, "POST", "/v1/registration/verify", verify, http.StatusForbidden, api.CodeInvalidCode)
}

func TestBadSignatureChangesNothing(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	id, other := testkit.NewIdentity(t), testkit.NewIdentity(t)
	number := testkit.TestNumber()
	keys := id.DeviceKeys(t, 1)
	keys.SignedPreKey = other.SignedEC(t, 1) // signed by someone else
	n.Expect(t, nil, "POST", "/v1/registration/verify", api.Verify{Number: number, Code: testkit.TestCode, IdentityKey: id.Public(), DeviceKeys: keys},
		http.StatusUnprocessableEntity, api.CodeBadSignature)

	alice := n.Register(t)
	n.Expect(t, alice, "GET", "/v1/directory/"+number, nil, http.StatusNotFound, api.CodeNotFound)

	// One bad PQ signature among good keys rejects the whole upload.
	upload := api.SetKeys{PreKeys: []api.PreKey{{KeyID: 1, PublicKey: testkit.ECKey(t)}},
		PQPreKeys: []api.SignedPreKey{alice.Identity.SignedPQ(t, 1), other.SignedPQ(t, 2)}}
	n.Expect(t, alice, "PUT", "/v1/keys", upload, http.StatusUnprocessableEntity, api.CodeBadSignature)
	var c api.KeyCount
	n.MustDo(t, alice, "GET", "/v1/keys/count", nil, http.StatusOK, &c)
	equal(t, "prekeys after rejected upload", c, api.KeyCount{})

	// A bad signed prekey rotation keeps the old one.
	var before, after api.Bundle
	n.MustDo(t, alice, "GET", "/v1/keys/"+alice.AccountID+"/1", nil, http.StatusOK, &before)
	bad := alice.Identity.SignedEC(t, 9)
	bad.Signature[0] ^= 1
	n.Expect(t, alice, "PUT", "/v1/keys", api.SetKeys{SignedPreKey: &bad}, http.StatusUnprocessableEntity, api.CodeBadSignature)
	n.MustDo(t, alice, "GET", "/v1/keys/"+alice.AccountID+"/1", nil, http.StatusOK, &after)
	equal(t, "signed prekey id", after.Devices[0].SignedPreKey.KeyID, before.Devices[0].SignedPreKey.KeyID)
}

func TestConcurrentBundleClaims(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	bob := n.Register(t)
	var pks []api.PreKey
	for i := range 20 {
		pks = append(pks, api.PreKey{KeyID: uint32(i + 1), PublicKey: testkit.ECKey(t)})
	}
	n.MustDo(t, bob, "PUT", "/v1/keys", api.SetKeys{PreKeys: pks}, http.StatusNoContent, nil)
	var fetchers []*testkit.Device
	for range 8 {
		fetchers = append(fetchers, n.Register(t))
	}
	var mu sync.Mutex
	seen := map[uint32]int{}
	var wg sync.WaitGroup
	for _, f := range fetchers {
		wg.Go(func() {
			for range 4 {
				status, b := n.Do(t, f, "GET", "/v1/keys/"+bob.AccountID+"/*", nil)
				if status != http.StatusOK {
					t.Errorf("claim: %d %s", status, b)
					return
				}
				var bundle api.Bundle
				if err := json.Unmarshal(b, &bundle); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if pk := bundle.Devices[0].PreKey; pk != nil {
					seen[pk.KeyID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	equal(t, "distinct keys handed out", len(seen), 20)
	for id, c := range seen {
		if c != 1 {
			t.Errorf("key %d handed out %d times", id, c)
		}
	}
}

func TestKeysLowIsTold(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	bob, alice := n.Register(t), n.Register(t)
	ws := n.Connect(t, bob)
	f := ws.Read()
	equal(t, "first frame with no prekeys", f.Type, wire.TypeKeysLow)
	equal(t, "then", ws.Read().Type, wire.TypeQueueEmpty)

	n.MustDo(t, alice, "GET", "/v1/keys/"+bob.AccountID+"/1", nil, http.StatusOK, nil)
	f = ws.Read()
	equal(t, "after a claim", f.Type, wire.TypeKeysLow)
	equal(t, "prekeys left", *f.PreKeys, 0)
}

func TestSendDeviceSets(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice := n.Register(t)
	alice2 := n.Link(t, alice, 2)
	bob := n.Register(t)
	bob2 := n.Link(t, bob, 7)
	ct := []byte("opaque")

	// Missing bob2 and alice's own device 2.
	e := n.Expect(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, ct, bob), http.StatusConflict, api.CodeMismatchedDevices)
	equal(t, "accounts in 409", len(e.Mismatched), 2)
	equal(t, "missing of bob", e.Mismatched[0].AccountID+":"+join(e.Mismatched[0].Missing), bob.AccountID+":2")
	equal(t, "missing own", e.Mismatched[1].AccountID+":"+join(e.Mismatched[1].Missing), alice.AccountID+":2")

	// An extra device that does not exist.
	ghost := *bob2
	ghost.DeviceID = 9
	e = n.Expect(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, ct, bob, bob2, &ghost, alice2), http.StatusConflict, api.CodeMismatchedDevices)
	equal(t, "extra", join(e.Mismatched[0].Extra), "9")

	// Sending to oneself as a recipient is extra.
	e = n.Expect(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, ct, bob, bob2, alice2, alice), http.StatusConflict, api.CodeMismatchedDevices)
	equal(t, "own sending device is extra", join(e.Mismatched[0].Extra), "1")

	// A stale registration id.
	stale := *bob2
	stale.RegistrationID = 8
	e = n.Expect(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, ct, bob, &stale, alice2), http.StatusGone, api.CodeStaleDevices)
	equal(t, "stale", e.Stale[0].AccountID+":"+join(e.Stale[0].Stale), bob.AccountID+":2")

	// Nothing was stored by the failed sends.
	ws := n.Connect(t, bob2)
	skipKeysLow(t, ws)

	var res api.SendResult
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, ct, bob, bob2, alice2), http.StatusOK, &res)
	f := ws.Read()
	equal(t, "frame", f.Type, wire.TypeEnvelope)
	equal(t, "id", f.Envelope.ID, res.ID)
	equal(t, "source", f.Envelope.SourceAccount+"."+itoa(f.Envelope.SourceDevice), alice.AccountID+".1")
	equal(t, "content", string(f.Envelope.Content), "opaque")
	equal(t, "timestamp", f.Envelope.ServerTimestamp, res.ServerTimestamp)

	// Unknown destination, oversize content.
	n.Expect(t, alice, "POST", "/v1/messages", testkit.Send("00000000-0000-4000-8000-000000000000", ct, alice2), http.StatusNotFound, api.CodeNotFound)
	n.Expect(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, make([]byte, 256<<10+1), bob, bob2, alice2), http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge)
}

func join(ids []uint32) string {
	var s []string
	for _, id := range ids {
		s = append(s, itoa(id))
	}
	return strings.Join(s, ",")
}

func itoa(n uint32) string { return strings.TrimSpace(strings.Repeat(" ", 0) + jsonNum(n)) }

func jsonNum(n uint32) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// skipKeysLow reads the connect-time frames up to queue_empty.
func skipKeysLow(t *testing.T, ws *testkit.Socket) {
	t.Helper()
	for {
		f := ws.Read()
		switch f.Type {
		case wire.TypeQueueEmpty:
			return
		case wire.TypeKeysLow:
		default:
			t.Fatalf("before queue_empty: unexpected %s frame", f.Type)
		}
	}
}

func TestDeliveryOrderAckAndResume(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice, bob := n.Register(t), n.Register(t)
	var ids []string
	for i := range 300 { // more than one window
		var res api.SendResult
		n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte{byte(i), byte(i >> 8)}, bob), http.StatusOK, &res)
		ids = append(ids, res.ID)
	}
	ws := n.Connect(t, bob)
	got := 0
	for got < 150 {
		f := ws.Read()
		if f.Type != wire.TypeEnvelope {
			continue
		}
		equal(t, "in order", f.Envelope.ID, ids[got])
		ws.Ack(f.Envelope.ID)
		got++
	}
	// Disconnect with some delivered but unacked: they come again. Acks
	// racing the close may be lost too (at-least-once): those come again
	// first, still in order.
	ws.C.CloseNow()
	ws = n.Connect(t, bob)
	next, last := 150, -1
	index := map[string]int{}
	for i, id := range ids {
		index[id] = i
	}
	for {
		f := ws.Read()
		if f.Type == wire.TypeQueueEmpty {
			break
		}
		if f.Type != wire.TypeEnvelope {
			continue
		}
		i := index[f.Envelope.ID]
		if i <= last {
			t.Fatalf("envelope %d after %d: out of order", i, last)
		}
		last = i
		if i < 150 {
			ws.Ack(f.Envelope.ID)
			continue
		}
		equal(t, "resumed in order", f.Envelope.ID, ids[next])
		next++
		ws.Ack(f.Envelope.ID)
	}
	equal(t, "all delivered", next, 300)

	// Live delivery while connected.
	var res api.SendResult
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("live"), bob), http.StatusOK, &res)
	f := ws.Read()
	equal(t, "live", f.Envelope.ID, res.ID)
	ws.Ack(res.ID)
	testkit.WaitFor(t, "mailbox empty", func() bool { return envelopeCount(t, n) == 0 })
}

func envelopeCount(t *testing.T, n *testkit.Node) int64 {
	t.Helper()
	st, err := n.Node.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st["envelopes"]
}

func TestSendOverWebSocket(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice, bob := n.Register(t), n.Register(t)
	wa := n.Connect(t, alice)
	skipKeysLow(t, wa)
	send := testkit.Send(bob.AccountID, []byte("ws"), bob)
	wa.Write(&wire.Frame{Type: wire.TypeSend, RequestID: "r1", Send: &send})
	f := wa.Read()
	equal(t, "answer", f.Type, wire.TypeSendResult)
	equal(t, "request id", f.RequestID, "r1")
	equal(t, "status", f.Status, http.StatusOK)
	bad := testkit.Send(bob.AccountID, []byte("ws"))
	wa.Write(&wire.Frame{Type: wire.TypeSend, RequestID: "r2", Send: &bad})
	f = wa.Read()
	equal(t, "send naming no device", f.Status, http.StatusConflict)
	equal(t, "code", f.Error.Code, api.CodeMismatchedDevices)
	equal(t, "missing named", join(f.Error.Mismatched[0].Missing), "1")

	wb := n.Connect(t, bob)
	for {
		f := wb.Read()
		if f.Type == wire.TypeEnvelope {
			equal(t, "content", string(f.Envelope.Content), "ws")
			break
		}
	}
}

func TestDisplacement(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	bob := n.Register(t)
	first := n.Connect(t, bob)
	skipKeysLow(t, first)
	second := n.Connect(t, bob)
	equal(t, "first closed with", first.CloseStatus(), websocket.StatusCode(wire.CloseDisplaced))
	skipKeysLow(t, second)
}

func TestRemovedDevice(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice := n.Register(t)
	alice2 := n.Link(t, alice, 2)
	alice3 := n.Link(t, alice, 3)
	ws := n.Connect(t, alice2)
	skipKeysLow(t, ws)

	n.Expect(t, alice2, "DELETE", "/v1/devices/3", nil, http.StatusForbidden, api.CodeForbidden)
	n.Expect(t, alice2, "DELETE", "/v1/devices/1", nil, http.StatusForbidden, api.CodeForbidden)
	n.MustDo(t, alice, "DELETE", "/v1/devices/2", nil, http.StatusNoContent, nil)
	equal(t, "socket closed with", ws.CloseStatus(), websocket.StatusCode(wire.CloseDeviceRemoved))
	n.Expect(t, alice2, "GET", "/v1/devices", nil, http.StatusUnauthorized, api.CodeUnauthorized)
	if _, resp, err := n.Dial(alice2); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("removed device could open a socket (err %v)", err)
	}
	// A device may remove itself.
	n.MustDo(t, alice3, "DELETE", "/v1/devices/3", nil, http.StatusNoContent, nil)
	var list api.DeviceList
	n.MustDo(t, alice, "GET", "/v1/devices", nil, http.StatusOK, &list)
	equal(t, "devices left", len(list.Devices), 1)
}

func TestDeviceLimit(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) { c.Devices.MaxDevices = 2 })
	alice := n.Register(t)
	n.Link(t, alice, 2)
	var pc api.ProvisioningCode
	n.MustDo(t, alice, "POST", "/v1/devices/provisioning_code", nil, http.StatusOK, &pc)
	n.Expect(t, nil, "POST", "/v1/devices/link", api.Link{AccountID: alice.AccountID, ProvisioningCode: pc.Code,
		DeviceKeys: alice.Identity.DeviceKeys(t, 3)}, http.StatusConflict, api.CodeTooManyDevices)
}

func TestLinkCodeIsOneUse(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice := n.Register(t)
	var pc api.ProvisioningCode
	n.MustDo(t, alice, "POST", "/v1/devices/provisioning_code", nil, http.StatusOK, &pc)
	link := api.Link{AccountID: alice.AccountID, ProvisioningCode: pc.Code, DeviceKeys: alice.Identity.DeviceKeys(t, 3)}
	n.MustDo(t, nil, "POST", "/v1/devices/link", link, http.StatusOK, nil)
	n.Expect(t, nil, "POST", "/v1/devices/link", link, http.StatusForbidden, api.CodeInvalidCode)
	// Keys signed by another identity are refused even with a good code.
	n.MustDo(t, alice, "POST", "/v1/devices/provisioning_code", nil, http.StatusOK, &pc)
	link = api.Link{AccountID: alice.AccountID, ProvisioningCode: pc.Code, DeviceKeys: testkit.NewIdentity(t).DeviceKeys(t, 4)}
	n.Expect(t, nil, "POST", "/v1/devices/link", link, http.StatusUnprocessableEntity, api.CodeBadSignature)
}

func TestProvisioningRelay(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice := n.Register(t)
	c, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(n.URL, "http")+"/v1/provisioning", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_, b, err := c.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f, err := wire.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "first frame", f.Type, wire.TypeProvisioningAddress)
	n.Expect(t, alice, "PUT", "/v1/provisioning/nope", api.ProvisioningMessage{Body: []byte("x")}, http.StatusNotFound, api.CodeNotFound)
	n.MustDo(t, alice, "PUT", "/v1/provisioning/"+f.Address, api.ProvisioningMessage{Body: []byte("sealed")}, http.StatusNoContent, nil)
	_, b, err = c.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f, err = wire.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "relayed", string(f.Body), "sealed")
}

func TestEphemeralOnlyOnline(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice, bob := n.Register(t), n.Register(t)
	bob2 := n.Link(t, bob, 2)
	ws := n.Connect(t, bob)
	skipKeysLow(t, ws)
	send := testkit.Send(bob.AccountID, []byte("typing"), bob, bob2)
	send.Ephemeral = true
	n.MustDo(t, alice, "POST", "/v1/messages", send, http.StatusOK, nil)
	f := ws.Read()
	equal(t, "ephemeral", f.Envelope.Ephemeral, true)
	equal(t, "stored", envelopeCount(t, n), int64(0))
	ws2 := n.Connect(t, bob2) // offline at the time: gets nothing
	skipKeysLow(t, ws2)
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) {
		c.Envelope.TTL = time.Minute
		c.Envelope.SweepInterval = time.Hour
	})
	alice, bob := n.Register(t), n.Register(t)
	for range 3 {
		n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("old"), bob), http.StatusOK, nil)
	}
	equal(t, "stored", envelopeCount(t, n), int64(3))
	deleted, err := n.Node.Envelope.SweepAt(t.Context(), time.Now().Add(time.Minute+time.Second))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "swept", deleted, 3)
	equal(t, "left", envelopeCount(t, n), int64(0))
	ws := n.Connect(t, bob)
	skipKeysLow(t, ws)
}

func TestRestartBetweenSendAndReceive(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice, bob := n.Register(t), n.Register(t)
	var res api.SendResult
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("survives"), bob), http.StatusOK, &res)
	n = n.Restart(t)
	ws := n.Connect(t, bob)
	for {
		f := ws.Read()
		if f.Type == wire.TypeEnvelope {
			equal(t, "after restart", f.Envelope.ID, res.ID)
			equal(t, "content", string(f.Envelope.Content), "survives")
			return
		}
		if f.Type == wire.TypeQueueEmpty {
			t.Fatal("envelope lost across restart")
		}
	}
}

func TestReRegistrationRemovesOldDevices(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice := n.Register(t)
	alice2 := n.Link(t, alice, 2)
	ws := n.Connect(t, alice2)
	skipKeysLow(t, ws)
	id := testkit.NewIdentity(t)
	var creds api.Credentials
	n.MustDo(t, nil, "POST", "/v1/registration/verify", api.Verify{Number: alice.Number, Code: testkit.TestCode,
		IdentityKey: id.Public(), DeviceKeys: id.DeviceKeys(t, 5)}, http.StatusOK, &creds)
	equal(t, "a new account", creds.AccountID != alice.AccountID, true)
	equal(t, "old device socket", ws.CloseStatus(), websocket.StatusCode(wire.CloseDeviceRemoved))
	n.Expect(t, alice, "GET", "/v1/devices", nil, http.StatusUnauthorized, api.CodeUnauthorized)
	var b api.Bundle
	n.MustDo(t, &testkit.Device{Credentials: creds}, "GET", "/v1/keys/"+creds.AccountID+"/*", nil, http.StatusOK, &b)
	equal(t, "new identity key", string(b.IdentityKey), string(id.Public()))
}

func TestShutdownTellsDevicesToReconnect(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	bob := n.Register(t)
	ws := n.Connect(t, bob)
	skipKeysLow(t, ws)
	stopped := make(chan struct{})
	go func() { n.Stop(); close(stopped) }()
	equal(t, "close code", ws.CloseStatus(), websocket.StatusCode(wire.CloseShuttingDown))
	<-stopped
	if _, err := os.Stat(filepath.Join(n.DataDir, server.AddrFile)); !os.IsNotExist(err) {
		t.Fatalf("address file left behind: %v", err)
	}
}

func TestKeepaliveDropsDeadPeer(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) { c.Envelope.PingInterval = 20 * time.Millisecond })
	bob := n.Register(t)
	ws := n.Connect(t, bob)
	skipKeysLow(t, ws)
	testkit.WaitFor(t, "server to see the socket", func() bool { return n.Node.Envelope.Connections() == 1 })
	// A peer that stops reading never answers pings: the server drops it.
	testkit.WaitFor(t, "server to drop the silent peer", func() bool { return n.Node.Envelope.Connections() == 0 })
}

func TestBundleAndDirectoryLimits(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) {
		c.Keys.BundleLimit.Burst = 2
		c.Devices.DirectoryLimit.Burst = 2
	})
	alice, bob := n.Register(t), n.Register(t)
	for range 2 {
		n.MustDo(t, alice, "GET", "/v1/keys/"+bob.AccountID+"/*", nil, http.StatusOK, nil)
		n.MustDo(t, alice, "GET", "/v1/directory/"+bob.Number, nil, http.StatusOK, nil)
	}
	e := n.Expect(t, alice, "GET", "/v1/keys/"+bob.AccountID+"/*", nil, http.StatusTooManyRequests, api.CodeRateLimited)
	if e.RetryAfter <= 0 {
		t.Fatal("no retry_after")
	}
	n.Expect(t, alice, "GET", "/v1/directory/"+bob.Number, nil, http.StatusTooManyRequests, api.CodeRateLimited)
	// Another requester has its own budget: one client cannot drain the
	// prekeys for everybody else's sake, nor be starved by them.
	n.MustDo(t, bob, "GET", "/v1/keys/"+alice.AccountID+"/*", nil, http.StatusOK, nil)
}

func TestSendAndConnectionLimits(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) {
		c.Envelope.SendLimit.Burst = 2
		c.Envelope.MaxConnsPerAddr = 1
	})
	alice, bob := n.Register(t), n.Register(t)
	for range 2 {
		n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("m"), bob), http.StatusOK, nil)
	}
	n.Expect(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("m"), bob), http.StatusTooManyRequests, api.CodeRateLimited)
	// Bob's budget is his own.
	n.MustDo(t, bob, "POST", "/v1/messages", testkit.Send(alice.AccountID, []byte("m"), alice), http.StatusOK, nil)

	ws := n.Connect(t, bob)
	ws.Read() // connected: the first frame came
	if _, resp, err := n.Dial(alice); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second socket from one address: err %v", err)
	}
	ws.C.CloseNow()
	testkit.WaitFor(t, "the address's socket to be released", func() bool {
		s, _, err := n.Dial(alice)
		if err != nil {
			return false
		}
		s.C.CloseNow()
		return true
	})
}
