package signal_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hushmsg/hush/signal"
	"github.com/hushmsg/hush/signal/signaltest"
)

// TestPreviousSessions: after a session reset, a late message of the old
// session still decrypts (from the archived state, which becomes current
// again), and a record keeps at most ArchivedStatesMax previous states.
func TestPreviousSessions(t *testing.T) {
	alice, bob, _ := pair(t, true, false)
	deliver(t, alice, bob, send(t, alice, bob, "s1"))
	deliver(t, bob, alice, send(t, bob, alice, "s1 ack"))
	late := send(t, alice, bob, "late in s1")

	// Alice starts over from a new bundle: s1 is archived on her side.
	b2, err := bob.Bundle(true, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Cipher.ProcessPreKeyBundle(context.Background(), bob.Address, b2); err != nil {
		t.Fatal(err)
	}
	w := send(t, alice, bob, "s2")
	if w.typ != signal.TypePreKey {
		t.Fatalf("type %d", w.typ)
	}
	deliver(t, alice, bob, w) // s1 archived on Bob's side
	deliver(t, alice, bob, late)
	rec, err := bob.Store.LoadSession(context.Background(), alice.Address)
	if err != nil {
		t.Fatal(err)
	}
	if rec.PreviousSessions() != 1 {
		t.Fatalf("%d previous sessions", rec.PreviousSessions())
	}
	// s1 is current again on Bob's side; Alice still has it archived and
	// decrypts Bob's answer from it.
	deliver(t, bob, alice, send(t, bob, alice, "answer in s1"))

	for i := range signal.ArchivedStatesMax + 5 {
		b, err := bob.Bundle(false, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := alice.Cipher.ProcessPreKeyBundle(context.Background(), bob.Address, b); err != nil {
			t.Fatal(err)
		}
		deliver(t, alice, bob, send(t, alice, bob, fmt.Sprintf("reset %d", i)))
	}
	for _, d := range []*signaltest.Device{alice, bob} {
		other := bob.Address
		if d == bob {
			other = alice.Address
		}
		rec, err := d.Store.LoadSession(context.Background(), other)
		if err != nil {
			t.Fatal(err)
		}
		if n := rec.PreviousSessions(); n != signal.ArchivedStatesMax {
			t.Fatalf("%s keeps %d previous sessions, want %d", d.Address, n, signal.ArchivedStatesMax)
		}
	}
}

// TestStaleUnansweredSession: a session this side started and the other
// never answered is not used after MaxUnacknowledgedSessionAge.
func TestStaleUnansweredSession(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	id := mustIdentity(t)
	st := signaltest.NewStore(id, 1)
	cfg := st.Config()
	cfg.Now = clock
	alice, err := signal.NewCipher(aliceAddr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	bob := newDevice(t, bobAddr, 2)
	b, _ := bob.Bundle(true, false)
	ctx := context.Background()
	if err := alice.ProcessPreKeyBundle(ctx, bob.Address, b); err != nil {
		t.Fatal(err)
	}
	rec, _ := st.LoadSession(ctx, bob.Address)
	if !rec.HasCurrentState(now) {
		t.Fatal("new session not usable")
	}
	now = now.Add(signal.MaxUnacknowledgedSessionAge + time.Second)
	if rec.HasCurrentState(now) {
		t.Fatal("stale session usable")
	}
	if _, _, err := alice.Encrypt(ctx, bob.Address, []byte("x")); !errors.Is(err, signal.ErrNoSession) {
		t.Fatalf("encrypt on a stale session: %v", err)
	}
}

// TestOldChainMessage: a message of a receiving chain dropped long ago
// (more than MaxReceiverChains turns) fails and harms nothing.
func TestOldChainMessage(t *testing.T) {
	alice, bob, _ := pair(t, true, false)
	deliver(t, alice, bob, send(t, alice, bob, "one"))
	deliver(t, bob, alice, send(t, bob, alice, "ack"))
	old := send(t, alice, bob, "old chain")
	for i := range signal.MaxReceiverChains + 2 {
		deliver(t, alice, bob, send(t, alice, bob, fmt.Sprintf("a%d", i)))
		deliver(t, bob, alice, send(t, bob, alice, fmt.Sprintf("b%d", i)))
	}
	if _, err := receive(bob, alice.Address, old); !errors.Is(err, signal.ErrInvalidMessage) {
		t.Fatalf("message of a trimmed chain: %v", err)
	}
	deliver(t, alice, bob, send(t, alice, bob, "still fine"))
}

// TestRecordRoundTrip: records survive serialization (a restart) at
// every step of a conversation.
func TestRecordRoundTrip(t *testing.T) {
	alice, bob, _ := pair(t, true, false)
	ctx := context.Background()
	check := func(d *signaltest.Device, other signal.ProtocolAddress) {
		t.Helper()
		b := d.Store.SessionBytes(other)
		r, err := signal.ParseSessionRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Bytes()) != string(b) {
			t.Fatal("record does not reserialize to its bytes")
		}
	}
	for i := range 10 {
		w := send(t, alice, bob, fmt.Sprintf("a%d", i))
		check(alice, bob.Address)
		deliver(t, alice, bob, w)
		check(bob, alice.Address)
		deliver(t, bob, alice, send(t, bob, alice, fmt.Sprintf("b%d", i)))
		check(alice, bob.Address)
	}
	if _, err := signal.ParseSessionRecord([]byte{0x0a, 0x05, 1}); !errors.Is(err, signal.ErrInvalidRecord) {
		t.Fatalf("truncated record: %v", err)
	}
	rec, _ := alice.Store.LoadSession(ctx, bob.Address)
	if id, err := rec.RemoteIdentity(); err != nil || !id.Equal(identityOf(t, bob)) {
		t.Fatalf("remote identity: %v", err)
	}
}

func identityOf(t *testing.T, d *signaltest.Device) signal.IdentityKey {
	t.Helper()
	id, err := d.Store.IdentityKeyPair(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return id.Public
}
