package signal_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/signal"
	"github.com/hushmsg/hush/signal/signaltest"
)

// official is a device run by the official library (testdata/peer.cjs).
type official struct {
	*peer
	addr     signal.ProtocolAddress
	identity signal.IdentityKey
}

func newOfficial(t *testing.T, addr signal.ProtocolAddress, regID uint32, identityPrivate []byte) *official {
	t.Helper()
	p := startPeer(t)
	req := map[string]any{"op": "init", "name": addr.Name, "device": addr.DeviceID, "registrationId": regID}
	if identityPrivate != nil {
		req["identityPrivate"] = hexBytes(identityPrivate)
	}
	var r struct{ Identity hexBytes }
	p.call(req, &r)
	id, err := signal.ParseIdentityKey(r.Identity)
	if err != nil {
		t.Fatal(err)
	}
	return &official{peer: p, addr: addr, identity: id}
}

type bundleJSON struct {
	RegistrationID        uint32   `json:"registrationId"`
	DeviceID              uint32   `json:"deviceId"`
	PreKeyID              *uint32  `json:"preKeyId"`
	PreKey                hexBytes `json:"preKey"`
	SignedPreKeyID        uint32   `json:"signedPreKeyId"`
	SignedPreKey          hexBytes `json:"signedPreKey"`
	SignedPreKeySignature hexBytes `json:"signedPreKeySignature"`
	KyberPreKeyID         uint32   `json:"kyberPreKeyId"`
	KyberPreKey           hexBytes `json:"kyberPreKey"`
	KyberPreKeySignature  hexBytes `json:"kyberPreKeySignature"`
	IdentityKey           hexBytes `json:"identityKey"`
}

func (o *official) bundle(oneTime, lastResort bool) *signal.PreKeyBundle {
	o.t.Helper()
	var j bundleJSON
	o.call(map[string]any{"op": "bundle", "oneTime": oneTime, "lastResort": lastResort}, &j)
	b := &signal.PreKeyBundle{RegistrationID: j.RegistrationID, DeviceID: j.DeviceID,
		SignedPreKeyID: j.SignedPreKeyID, SignedPreKeySignature: j.SignedPreKeySignature,
		KyberPreKeyID: j.KyberPreKeyID, KyberPreKeySignature: j.KyberPreKeySignature}
	var err error
	if j.PreKeyID != nil {
		pk, err := signal.ParsePublicKey(j.PreKey)
		if err != nil {
			o.t.Fatal(err)
		}
		b.PreKeyID, b.PreKey = *j.PreKeyID, &pk
	}
	if b.SignedPreKey, err = signal.ParsePublicKey(j.SignedPreKey); err != nil {
		o.t.Fatal(err)
	}
	if b.KyberPreKey, err = signal.ParseKEMPublicKey(j.KyberPreKey); err != nil {
		o.t.Fatal(err)
	}
	if b.IdentityKey, err = signal.ParseIdentityKey(j.IdentityKey); err != nil {
		o.t.Fatal(err)
	}
	return b
}

func bundleToJSON(b *signal.PreKeyBundle) bundleJSON {
	j := bundleJSON{RegistrationID: b.RegistrationID, DeviceID: b.DeviceID,
		SignedPreKeyID: b.SignedPreKeyID, SignedPreKey: b.SignedPreKey.Bytes(), SignedPreKeySignature: b.SignedPreKeySignature,
		KyberPreKeyID: b.KyberPreKeyID, KyberPreKey: b.KyberPreKey.Bytes(), KyberPreKeySignature: b.KyberPreKeySignature,
		IdentityKey: b.IdentityKey.Bytes()}
	if b.PreKey != nil {
		id := b.PreKeyID
		j.PreKeyID, j.PreKey = &id, b.PreKey.Bytes()
	}
	return j
}

func (o *official) processBundle(remote signal.ProtocolAddress, b *signal.PreKeyBundle) {
	o.t.Helper()
	o.call(map[string]any{"op": "processBundle", "remote": addrJSON(remote), "bundle": bundleToJSON(b)}, nil)
}

func addrJSON(a signal.ProtocolAddress) map[string]any {
	return map[string]any{"name": a.Name, "device": a.DeviceID}
}

func (o *official) encrypt(remote signal.ProtocolAddress, text string) wire {
	o.t.Helper()
	var r struct {
		Type int
		Body hexBytes
	}
	o.call(map[string]any{"op": "encrypt", "remote": addrJSON(remote), "plaintext": hexBytes(text)}, &r)
	return wire{signal.CiphertextType(r.Type), r.Body, text}
}

func (o *official) decrypt(remote signal.ProtocolAddress, w wire) ([]byte, error) {
	o.t.Helper()
	var r struct{ Plaintext hexBytes }
	err := o.try(map[string]any{"op": "decrypt", "remote": addrJSON(remote), "type": int(w.typ), "body": hexBytes(w.body)}, &r)
	return r.Plaintext, err
}

func (o *official) mustDecrypt(remote signal.ProtocolAddress, w wire) {
	o.t.Helper()
	pt, err := o.decrypt(remote, w)
	if err != nil {
		o.t.Fatalf("official library decrypts %q (type %d): %v", w.text, w.typ, err)
	}
	if string(pt) != w.text {
		o.t.Fatalf("official library decrypted %q, want %q", pt, w.text)
	}
}

func goEncrypt(t *testing.T, d *signaltest.Device, to signal.ProtocolAddress, text string) wire {
	t.Helper()
	typ, body, err := d.Cipher.Encrypt(context.Background(), to, []byte(text))
	if err != nil {
		t.Fatalf("Go encrypts: %v", err)
	}
	return wire{typ, body, text}
}

func goDecrypt(t *testing.T, d *signaltest.Device, from signal.ProtocolAddress, w wire) {
	t.Helper()
	pt, err := receive(d, from, w)
	if err != nil {
		t.Fatalf("Go decrypts %q (type %d): %v", w.text, w.typ, err)
	}
	if string(pt) != w.text {
		t.Fatalf("Go decrypted %q, want %q", pt, w.text)
	}
}

// converse exchanges n messages each way between a Go device and an
// official one, in batches delivered out of order with some dropped.
func converse(t *testing.T, g *signaltest.Device, o *official, n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	var toO, toG []wire
	sentO, sentG := 0, 0
	for sentO < n || sentG < n {
		if sentO < n && (sentG >= n || rng.IntN(2) == 0) {
			toO = append(toO, goEncrypt(t, g, o.addr, fmt.Sprintf("go %d", sentO)))
			sentO++
		} else {
			toG = append(toG, o.encrypt(g.Address, fmt.Sprintf("official %d", sentG)))
			sentG++
		}
		if rng.IntN(8) == 0 || (sentO == n && sentG == n) {
			rng.Shuffle(len(toO), func(i, j int) { toO[i], toO[j] = toO[j], toO[i] })
			for _, w := range toO {
				if rng.IntN(12) != 0 {
					o.mustDecrypt(g.Address, w)
				}
			}
			rng.Shuffle(len(toG), func(i, j int) { toG[i], toG[j] = toG[j], toG[i] })
			for _, w := range toG {
				if rng.IntN(12) != 0 {
					goDecrypt(t, g, o.addr, w)
				}
			}
			toO, toG = toO[:0], toG[:0]
		}
	}
}

// TestInteropGoInitiates: Go starts a session from an official bundle
// and sends; the official library decrypts and answers; then 200
// messages each way, out of order and with drops.
func TestInteropGoInitiates(t *testing.T) {
	needSPQR(t)
	for _, tc := range []struct {
		name                string
		oneTime, lastResort bool
	}{
		{"one-time prekey", true, false},
		{"last-resort kyber prekey", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOfficial(t, bobAddr, 4242, nil)
			alice := newDevice(t, aliceAddr, 1717)
			b := o.bundle(tc.oneTime, tc.lastResort)
			if err := alice.Cipher.ProcessPreKeyBundle(context.Background(), o.addr, b); err != nil {
				t.Fatal(err)
			}
			first := goEncrypt(t, alice, o.addr, "hello from Go")
			second := goEncrypt(t, alice, o.addr, "second before any answer")
			if first.typ != signal.TypePreKey || second.typ != signal.TypePreKey {
				t.Fatalf("types %d, %d, want PreKey", first.typ, second.typ)
			}
			o.mustDecrypt(alice.Address, second) // out of order
			o.mustDecrypt(alice.Address, first)
			var used struct {
				Used      []struct{ ID uint32 }
				Remaining []uint32
			}
			o.call(map[string]any{"op": "kyberUsed"}, &used)
			if len(used.Used) != 1 || used.Used[0].ID != b.KyberPreKeyID {
				t.Fatalf("official kyber prekey uses %+v", used.Used)
			}
			kept := false
			for _, id := range used.Remaining {
				kept = kept || id == b.KyberPreKeyID
			}
			if kept != tc.lastResort {
				t.Fatalf("official kept the kyber prekey = %t, want %t", kept, tc.lastResort)
			}
			reply := o.encrypt(alice.Address, "hello from the official library")
			if reply.typ != signal.TypeWhisper {
				t.Fatalf("reply type %d", reply.typ)
			}
			goDecrypt(t, alice, o.addr, reply)
			converse(t, alice, o, 200, 1)
		})
	}
}

// TestInteropOfficialInitiates: the official library starts a session
// from a Go bundle; Go decrypts and answers; then 200 messages each way.
func TestInteropOfficialInitiates(t *testing.T) {
	needSPQR(t)
	for _, tc := range []struct {
		name                string
		oneTime, lastResort bool
	}{
		{"one-time prekey", true, false},
		{"last-resort kyber prekey", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOfficial(t, aliceAddr, 1717, nil)
			bob := newDevice(t, bobAddr, 4242)
			b, err := bob.Bundle(tc.oneTime, tc.lastResort)
			if err != nil {
				t.Fatal(err)
			}
			o.processBundle(bob.Address, b)
			first := o.encrypt(bob.Address, "hello from the official library")
			second := o.encrypt(bob.Address, "second before any answer")
			if first.typ != signal.TypePreKey || second.typ != signal.TypePreKey {
				t.Fatalf("types %d, %d, want PreKey", first.typ, second.typ)
			}
			pm, err := signal.ParsePreKeySignalMessage(first.body)
			if err != nil {
				t.Fatal(err)
			}
			if len(pm.Message.Addresses) != 36 || len(pm.Message.PQRatchet) == 0 || pm.Version != 4 || pm.Message.Version != 4 {
				t.Fatalf("official prekey message: version %d/%d, %d address bytes, %d SPQR bytes",
					pm.Version, pm.Message.Version, len(pm.Message.Addresses), len(pm.Message.PQRatchet))
			}
			goDecrypt(t, bob, o.addr, first)
			goDecrypt(t, bob, o.addr, second)
			if got := bob.Store.HasKyberPreKey(b.KyberPreKeyID); got != tc.lastResort {
				t.Fatalf("Go kept the kyber prekey = %t, want %t", got, tc.lastResort)
			}
			if tc.oneTime && bob.Store.PreKeyCount() != 0 {
				t.Fatal("one-time prekey not removed")
			}
			reply := goEncrypt(t, bob, o.addr, "hello from Go")
			if reply.typ != signal.TypeWhisper {
				t.Fatalf("reply type %d", reply.typ)
			}
			o.mustDecrypt(bob.Address, reply)
			converse(t, bob, o, 200, 2)

			if tc.lastResort {
				// A second official device starts another session with the
				// same last-resort key; the key is still there.
				o2 := newOfficial(t, signal.ProtocolAddress{Name: aliceName, DeviceID: 3}, 99, nil)
				o2.processBundle(bob.Address, b)
				goDecrypt(t, bob, o2.addr, o2.encrypt(bob.Address, "another device"))
			}
		})
	}
}

// TestInteropSenderKeys: group messages both ways, each side taking the
// other's distribution message.
func TestInteropSenderKeys(t *testing.T) {
	ctx := context.Background()
	o := newOfficial(t, aliceAddr, 1, nil)
	g := newDevice(t, bobAddr, 2)
	dist := uuid.New()

	// Official → Go.
	var skdm struct{ Body hexBytes }
	o.call(map[string]any{"op": "skdmCreate", "distributionId": dist.String()}, &skdm)
	m, err := signal.ParseSenderKeyDistributionMessage(skdm.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Cipher.ProcessSenderKeyDistribution(ctx, o.addr, m); err != nil {
		t.Fatal(err)
	}
	var fromO []wire
	for i := range 30 {
		var r struct {
			Type int
			Body hexBytes
		}
		text := fmt.Sprintf("official group %d", i)
		o.call(map[string]any{"op": "groupEncrypt", "distributionId": dist.String(), "plaintext": hexBytes(text)}, &r)
		if r.Type != int(signal.TypeSenderKey) {
			t.Fatalf("type %d", r.Type)
		}
		fromO = append(fromO, wire{signal.CiphertextType(r.Type), r.Body, text})
	}
	rng := rand.New(rand.NewPCG(3, 4))
	rng.Shuffle(len(fromO), func(i, j int) { fromO[i], fromO[j] = fromO[j], fromO[i] })
	for _, w := range fromO[:25] {
		pt, err := g.Cipher.GroupDecrypt(ctx, o.addr, w.body)
		if err != nil || string(pt) != w.text {
			t.Fatalf("Go group decrypt %q: %q, %v", w.text, pt, err)
		}
	}

	// Go → official.
	gm, err := g.Cipher.CreateSenderKeyDistribution(ctx, dist)
	if err != nil {
		t.Fatal(err)
	}
	o.call(map[string]any{"op": "skdmProcess", "sender": addrJSON(g.Address), "body": hexBytes(gm.Bytes())}, nil)
	var fromG []wire
	for i := range 30 {
		text := fmt.Sprintf("Go group %d", i)
		body, err := g.Cipher.GroupEncrypt(ctx, dist, []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		fromG = append(fromG, wire{signal.TypeSenderKey, body, text})
	}
	rng.Shuffle(len(fromG), func(i, j int) { fromG[i], fromG[j] = fromG[j], fromG[i] })
	for _, w := range fromG[:25] {
		var r struct{ Plaintext hexBytes }
		o.call(map[string]any{"op": "groupDecrypt", "sender": addrJSON(g.Address), "body": hexBytes(w.body)}, &r)
		if string(r.Plaintext) != w.text {
			t.Fatalf("official group decrypt: %q, want %q", r.Plaintext, w.text)
		}
	}
	// The official library refuses a replay of Go's message, as Go does.
	if err := o.try(map[string]any{"op": "groupDecrypt", "sender": addrJSON(g.Address), "body": hexBytes(fromG[0].body)}, nil); err == nil {
		t.Fatal("official library accepted a replayed group message")
	}
}

// TestInteropRecordsMoveBetweenImplementations: a session Go set up with
// the official library is handed, as its serialized record, to a second
// official process holding Go's identity, which carries on the
// conversation.
func TestInteropRecordsMoveBetweenImplementations(t *testing.T) {
	needSPQR(t)
	ctx := context.Background()
	bob := newOfficial(t, bobAddr, 4242, nil)
	id := mustIdentity(t)
	st := signaltest.NewStore(id, 1717)
	c, err := signal.NewCipher(aliceAddr, st.Config())
	if err != nil {
		t.Fatal(err)
	}
	alice := &signaltest.Device{Address: aliceAddr, Store: st, Cipher: c}
	if err := c.ProcessPreKeyBundle(ctx, bob.addr, bob.bundle(true, false)); err != nil {
		t.Fatal(err)
	}
	bob.mustDecrypt(aliceAddr, goEncrypt(t, alice, bob.addr, "hello"))
	converse(t, alice, bob, 20, 5)

	// Go's record goes to the official library.
	alice2 := newOfficial(t, aliceAddr, 1717, id.Private.Bytes())
	if !alice2.identity.Equal(id.Public) {
		t.Fatal("official process has another identity")
	}
	alice2.call(map[string]any{"op": "setSession", "remote": addrJSON(bob.addr), "record": hexBytes(st.SessionBytes(bob.addr))}, nil)
	for i := range 5 {
		w := alice2.encrypt(bob.addr, fmt.Sprintf("official alice %d", i))
		bob.mustDecrypt(aliceAddr, w)
		alice2.mustDecrypt(bob.addr, bob.encrypt(aliceAddr, fmt.Sprintf("official bob %d", i)))
	}
	// And back: the official record returns to Go.
	var r struct{ Record hexBytes }
	alice2.call(map[string]any{"op": "session", "remote": addrJSON(bob.addr)}, &r)
	st.SetSessionBytes(bob.addr, r.Record)
	converse(t, alice, bob, 20, 6)
}
