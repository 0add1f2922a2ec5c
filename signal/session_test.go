package signal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hushmsg/hush/signal"
	"github.com/hushmsg/hush/signal/signaltest"
	"github.com/hushmsg/hush/signal/spqr"
)

const (
	aliceName = "9d0652a3-dcc3-4d11-975f-74d61598733f"
	bobName   = "796abedb-ca4e-4f18-8803-1fde5b921f9f"
)

var (
	aliceAddr = signal.ProtocolAddress{Name: aliceName, DeviceID: 1}
	bobAddr   = signal.ProtocolAddress{Name: bobName, DeviceID: 2}
)

// spqrV1 reports whether the spqr package speaks V1 (the real braid);
// the error says why not.
func spqrV1() error {
	_, err := spqr.InitialState(spqr.Params{AuthKey: make([]byte, 32), Version: spqr.V1, Direction: spqr.A2B, MinVersion: spqr.V1})
	return err
}

// needSPQR skips a test against the official library when the spqr
// package reports that it cannot do V1: the official library requires it
// of every session.
func needSPQR(t *testing.T) {
	t.Helper()
	if err := spqrV1(); err != nil {
		t.Skipf("waits for the SPQR V1 implementation: spqr.InitialState(V1) = %v", err)
	}
}

func newDevice(t testing.TB, addr signal.ProtocolAddress, regID uint32) *signaltest.Device {
	t.Helper()
	d, err := signaltest.NewDevice(addr, regID, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type wire struct {
	typ  signal.CiphertextType
	body []byte
	text string
}

func send(t testing.TB, from, to *signaltest.Device, text string) wire {
	t.Helper()
	typ, body, err := from.Cipher.Encrypt(context.Background(), to.Address, []byte(text))
	if err != nil {
		t.Fatalf("%s encrypts: %v", from.Address, err)
	}
	return wire{typ, body, text}
}

func deliver(t testing.TB, from, to *signaltest.Device, w wire) {
	t.Helper()
	pt, err := receive(to, from.Address, w)
	if err != nil {
		t.Fatalf("%s decrypts %q (type %d): %v", to.Address, w.text, w.typ, err)
	}
	if string(pt) != w.text {
		t.Fatalf("decrypted %q, want %q", pt, w.text)
	}
}

func receive(to *signaltest.Device, from signal.ProtocolAddress, w wire) ([]byte, error) {
	ctx := context.Background()
	if w.typ == signal.TypePreKey {
		return to.Cipher.DecryptPreKey(ctx, from, w.body)
	}
	return to.Cipher.Decrypt(ctx, from, w.body)
}

// pair sets up Alice → Bob from Bob's bundle.
func pair(t testing.TB, oneTime, lastResort bool) (alice, bob *signaltest.Device, bundle *signal.PreKeyBundle) {
	t.Helper()
	alice = newDevice(t, aliceAddr, 11)
	bob = newDevice(t, bobAddr, 22)
	bundle, err := bob.Bundle(oneTime, lastResort)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Cipher.ProcessPreKeyBundle(context.Background(), bob.Address, bundle); err != nil {
		t.Fatal(err)
	}
	return alice, bob, bundle
}

func TestSessionGoToGo(t *testing.T) {
	for _, tc := range []struct {
		name                string
		oneTime, lastResort bool
	}{
		{"one-time prekey", true, false},
		{"no one-time prekey", false, false},
		{"last-resort kyber prekey", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alice, bob, bundle := pair(t, tc.oneTime, tc.lastResort)
			w := send(t, alice, bob, "hello bob")
			if w.typ != signal.TypePreKey {
				t.Fatalf("first message type %d, want PreKey", w.typ)
			}
			if w.body[0] != 0x44 {
				t.Fatalf("version byte %#x, want 0x44", w.body[0])
			}
			w2 := send(t, alice, bob, "again")
			if w2.typ != signal.TypePreKey {
				t.Fatalf("unanswered session sends type %d, want PreKey", w2.typ)
			}
			deliver(t, alice, bob, w)
			deliver(t, alice, bob, w2) // same session: promoted, not set up again
			if tc.oneTime && bob.Store.PreKeyCount() != 0 {
				t.Fatal("one-time prekey not removed")
			}
			if got := bob.Store.HasKyberPreKey(bundle.KyberPreKeyID); got != tc.lastResort {
				t.Fatalf("kyber prekey kept = %t, want %t (last resort)", got, tc.lastResort)
			}
			r := send(t, bob, alice, "hi alice")
			if r.typ != signal.TypeWhisper {
				t.Fatalf("answer type %d, want Whisper", r.typ)
			}
			deliver(t, bob, alice, r)
			if w := send(t, alice, bob, "acknowledged"); w.typ != signal.TypeWhisper {
				t.Fatalf("after an answer type %d, want Whisper", w.typ)
			} else {
				deliver(t, alice, bob, w)
			}
		})
	}
}

// TestConversationOutOfOrder runs 400 messages both ways with reordering,
// drops and ratchet turns.
func TestConversationOutOfOrder(t *testing.T) {
	alice, bob, _ := pair(t, true, false)
	deliver(t, alice, bob, send(t, alice, bob, "start"))
	rng := rand.New(rand.NewPCG(1, 2))
	var toBob, toAlice []wire
	for i := range 400 {
		if rng.IntN(2) == 0 {
			toBob = append(toBob, send(t, alice, bob, fmt.Sprintf("a%d", i)))
		} else {
			toAlice = append(toAlice, send(t, bob, alice, fmt.Sprintf("b%d", i)))
		}
		if rng.IntN(5) == 0 {
			flush(t, rng, alice, bob, &toBob)
			flush(t, rng, bob, alice, &toAlice)
		}
	}
	flush(t, rng, alice, bob, &toBob)
	flush(t, rng, bob, alice, &toAlice)
}

// flush delivers the queue shuffled, dropping about one in ten.
func flush(t *testing.T, rng *rand.Rand, from, to *signaltest.Device, q *[]wire) {
	t.Helper()
	rng.Shuffle(len(*q), func(i, j int) { (*q)[i], (*q)[j] = (*q)[j], (*q)[i] })
	for _, w := range *q {
		if rng.IntN(10) == 0 {
			continue
		}
		deliver(t, from, to, w)
	}
	*q = (*q)[:0]
}

func TestDuplicateAndReplay(t *testing.T) {
	alice, bob, _ := pair(t, true, false)
	first := send(t, alice, bob, "one")
	deliver(t, alice, bob, first)
	// The PreKey message again: its session exists, its key is used.
	if _, err := receive(bob, alice.Address, first); !errors.Is(err, signal.ErrDuplicateMessage) {
		t.Fatalf("replayed prekey message: %v, want ErrDuplicateMessage", err)
	}
	deliver(t, bob, alice, send(t, bob, alice, "ack"))
	w := send(t, alice, bob, "two")
	deliver(t, alice, bob, w)
	_, err := receive(bob, alice.Address, w)
	if !errors.Is(err, signal.ErrDuplicateMessage) || !errors.Is(err, signal.ErrInvalidMessage) {
		t.Fatalf("replay: %v, want ErrDuplicateMessage", err)
	}
}

func TestBadMessages(t *testing.T) {
	alice, bob, _ := pair(t, true, false)
	deliver(t, alice, bob, send(t, alice, bob, "one"))
	deliver(t, bob, alice, send(t, bob, alice, "ack"))
	w := send(t, alice, bob, "two")
	body := w.body
	flip := func(i int) []byte { b := bytes.Clone(body); b[i] ^= 1; return b }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, signal.ErrInvalidMessage},
		{"truncated", body[:5], signal.ErrInvalidMessage},
		{"no MAC", body[:len(body)-8], signal.ErrInvalidMessage},
		{"wrong MAC", flip(len(body) - 1), signal.ErrInvalidMAC},
		{"changed ciphertext", flip(len(body) - 20), signal.ErrInvalidMAC},
		{"legacy version", append([]byte{0x22}, body[1:]...), signal.ErrVersion},
		{"future version", append([]byte{0x55}, body[1:]...), signal.ErrVersion},
		{"version 3", append([]byte{0x33}, body[1:]...), signal.ErrVersion},
		{"oversized", append(bytes.Clone(body), make([]byte, 1<<16)...), signal.ErrInvalidMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bob.Cipher.Decrypt(context.Background(), alice.Address, tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// The session is unharmed.
	deliver(t, alice, bob, w)
}

// forge re-encodes a SignalMessage with another counter (and a MAC that
// cannot verify): the window is checked before the MAC.
func forge(t *testing.T, body []byte, counter uint32) []byte {
	t.Helper()
	m, err := signal.ParseSignalMessage(body)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{body[0]}
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, m.RatchetKey.Bytes())
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(counter))
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendBytes(b, m.Ciphertext)
	if len(m.PQRatchet) > 0 {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, m.PQRatchet)
	}
	return append(b, make([]byte, 8)...)
}

func TestOutOfWindow(t *testing.T) {
	alice, bob, _ := pair(t, true, false)
	deliver(t, alice, bob, send(t, alice, bob, "one"))
	deliver(t, bob, alice, send(t, bob, alice, "ack"))
	w := send(t, alice, bob, "two")
	m, err := signal.ParseSignalMessage(w.body)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := bob.Cipher.Decrypt(ctx, alice.Address, forge(t, w.body, m.Counter+signal.MaxForwardJumps+1)); !errors.Is(err, signal.ErrTooFarAhead) {
		t.Fatalf("jump of MaxForwardJumps+1: %v, want ErrTooFarAhead", err)
	}
	// A jump of exactly MaxForwardJumps is inside the window: it fails
	// only at the MAC.
	_, err = bob.Cipher.Decrypt(ctx, alice.Address, forge(t, w.body, m.Counter+signal.MaxForwardJumps))
	if errors.Is(err, signal.ErrTooFarAhead) || !errors.Is(err, signal.ErrInvalidMessage) {
		t.Fatalf("jump of MaxForwardJumps: %v, want a MAC failure", err)
	}
	deliver(t, alice, bob, w)
}

func TestNoSession(t *testing.T) {
	alice := newDevice(t, aliceAddr, 1)
	if _, _, err := alice.Cipher.Encrypt(context.Background(), bobAddr, []byte("x")); !errors.Is(err, signal.ErrNoSession) {
		t.Fatalf("encrypt without session: %v", err)
	}
	a2, bob, _ := pair(t, false, false)
	deliver(t, a2, bob, send(t, a2, bob, "x"))
	w := send(t, bob, a2, "y")
	if _, err := receive(alice, bob.Address, w); !errors.Is(err, signal.ErrNoSession) {
		t.Fatalf("decrypt without session: %v", err)
	}
}

func TestUntrustedIdentity(t *testing.T) {
	alice, bob, _ := pair(t, true, false)
	deliver(t, alice, bob, send(t, alice, bob, "one"))
	// Bob reinstalls: a new identity at the same address.
	bob2 := newDevice(t, bobAddr, 23)
	bundle, err := bob2.Bundle(true, false)
	if err != nil {
		t.Fatal(err)
	}
	err = alice.Cipher.ProcessPreKeyBundle(context.Background(), bob2.Address, bundle)
	var ue *signal.UntrustedIdentityError
	if !errors.As(err, &ue) || ue.Address != bobAddr || !errors.Is(err, signal.ErrUntrustedIdentity) {
		t.Fatalf("err = %v, want UntrustedIdentityError for %s", err, bobAddr)
	}
	// The user approves the new identity.
	if changed, _ := alice.Store.SaveIdentity(context.Background(), bobAddr, bundle.IdentityKey); !changed {
		t.Fatal("SaveIdentity did not report the change")
	}
	if err := alice.Cipher.ProcessPreKeyBundle(context.Background(), bob2.Address, bundle); err != nil {
		t.Fatal(err)
	}
	deliver(t, alice, bob2, send(t, alice, bob2, "new session"))
}

func TestBadBundle(t *testing.T) {
	alice := newDevice(t, aliceAddr, 1)
	bob := newDevice(t, bobAddr, 2)
	for _, tc := range []struct {
		name  string
		spoil func(b *signal.PreKeyBundle)
		want  error
	}{
		{"signed prekey signature", func(b *signal.PreKeyBundle) { b.SignedPreKeySignature[3] ^= 1 }, signal.ErrInvalidSignature},
		{"kyber prekey signature", func(b *signal.PreKeyBundle) { b.KyberPreKeySignature[3] ^= 1 }, signal.ErrInvalidSignature},
		{"no kyber prekey", func(b *signal.PreKeyBundle) { b.KyberPreKey = nil }, signal.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := bob.Bundle(true, false)
			if err != nil {
				t.Fatal(err)
			}
			tc.spoil(b)
			if err := alice.Cipher.ProcessPreKeyBundle(context.Background(), bob.Address, b); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	b, _ := bob.Bundle(true, false)
	if err := alice.Cipher.ProcessPreKeyBundle(context.Background(), signal.ProtocolAddress{Name: bobName, DeviceID: 128}, b); !errors.Is(err, signal.ErrInvalidArgument) {
		t.Fatalf("device 128: %v", err)
	}
}

// TestBadPreKeyMessages spoils a PreKeySignalMessage in every way.
func TestBadPreKeyMessages(t *testing.T) {
	alice, bob, bundle := pair(t, true, false)
	w := send(t, alice, bob, "one")
	m, err := signal.ParsePreKeySignalMessage(w.body)
	if err != nil {
		t.Fatal(err)
	}
	if m.SignedPreKeyID != bundle.SignedPreKeyID || m.KyberPreKeyID != bundle.KyberPreKeyID || !m.HasPreKeyID || m.PreKeyID != bundle.PreKeyID || m.RegistrationID != 11 {
		t.Fatalf("prekey message fields %+v", m)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, signal.ErrInvalidMessage},
		{"version only", []byte{0x44}, signal.ErrInvalidMessage},
		{"truncated", w.body[:len(w.body)/2], signal.ErrInvalidMessage},
		{"legacy", append([]byte{0x23}, w.body[1:]...), signal.ErrVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := bob.Cipher.DecryptPreKey(ctx, alice.Address, tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// The message names Alice's device 1 as its sender.
	if _, err := bob.Cipher.DecryptPreKey(ctx, signal.ProtocolAddress{Name: aliceName, DeviceID: 9}, w.body); !errors.Is(err, signal.ErrInvalidMAC) {
		t.Fatalf("other sender address: %v, want ErrInvalidMAC", err)
	}
	// Bob lost the signed prekey.
	other := newDevice(t, bobAddr, 3)
	if _, err := other.Cipher.DecryptPreKey(ctx, alice.Address, w.body); !errors.Is(err, signal.ErrInvalidSignedPreKeyID) {
		t.Fatalf("unknown signed prekey: %v", err)
	}
	deliver(t, alice, bob, w)
}
