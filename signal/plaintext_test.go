package signal_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/hushmsg/hush/signal"
)

// TestDecryptionErrorOfficialVectors builds DecryptionErrorMessages and
// PlaintextContents for official messages and compares them with the
// official library's, byte for byte, and reads the official ones back.
func TestDecryptionErrorOfficialVectors(t *testing.T) {
	var v struct {
		Vectors []struct {
			Original, Message, RatchetKey, PlaintextContent, Body string
			Type                                                  int
			Timestamp                                             uint64
			Device                                                uint32
		}
		PlaintextRefused bool
	}
	loadJSON(t, "decryption_error.json", &v)
	if len(v.Vectors) == 0 || !v.PlaintextRefused {
		t.Fatal("no vectors")
	}
	types := map[int]bool{}
	for i, x := range v.Vectors {
		types[x.Type] = true
		m, err := signal.DecryptionErrorForOriginal(unhex(t, x.Original), signal.CiphertextType(x.Type), x.Timestamp, x.Device)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		if !bytes.Equal(m.Bytes(), unhex(t, x.Message)) {
			t.Fatalf("vector %d: message %x, official %s", i, m.Bytes(), x.Message)
		}
		pc := signal.NewPlaintextContent(m)
		if !bytes.Equal(pc.Bytes(), unhex(t, x.PlaintextContent)) || !bytes.Equal(pc.Body(), unhex(t, x.Body)) {
			t.Fatalf("vector %d: plaintext content %x, official %s", i, pc.Bytes(), x.PlaintextContent)
		}
		got, err := signal.ParsePlaintextContent(unhex(t, x.PlaintextContent))
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		back, err := got.DecryptionErrorMessage()
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		var rk []byte
		if back.RatchetKey != nil {
			rk = back.RatchetKey.Bytes()
		}
		if back.Timestamp != x.Timestamp || back.DeviceID != x.Device || !bytes.Equal(rk, unhex(t, x.RatchetKey)) {
			t.Fatalf("vector %d: read back %+v, official ratchet key %q", i, back, x.RatchetKey)
		}
	}
	if !types[int(signal.TypePreKey)] || !types[int(signal.TypeWhisper)] || !types[int(signal.TypeSenderKey)] {
		t.Fatalf("vectors cover types %v", types)
	}
	if _, err := signal.DecryptionErrorForOriginal(unhex(t, v.Vectors[0].PlaintextContent), signal.TypePlaintext, 1, 1); !errors.Is(err, signal.ErrInvalidArgument) {
		t.Fatalf("plaintext original: %v", err)
	}
}

// TestPlaintextContentBadInput: malformed input is a typed error.
func TestPlaintextContentBadInput(t *testing.T) {
	t.Parallel()
	good := signal.NewPlaintextContent(signal.NewDecryptionErrorMessage(nil, 5, 2)).Bytes()
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"identifier only", []byte{0xC0}},
		{"no boundary", good[:len(good)-1]},
		{"wrong identifier", append([]byte{0x33}, good[1:]...)},
		{"no decryption error", []byte{0xC0, 0x0a, 0x00, 0x80}},
		{"truncated field", []byte{0xC0, 0x42, 0x05, 0x10, 0x80}},
		{"no timestamp", []byte{0xC0, 0x42, 0x02, 0x18, 0x01, 0x80}},
		{"bad ratchet key", []byte{0xC0, 0x42, 0x05, 0x0a, 0x01, 0x05, 0x10, 0x01, 0x80}},
		{"wrong wire type", []byte{0xC0, 0x42, 0x02, 0x11, 0x01, 0x80}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc, err := signal.ParsePlaintextContent(tc.in)
			if err == nil {
				_, err = pc.DecryptionErrorMessage()
			}
			if !errors.Is(err, signal.ErrInvalidMessage) {
				t.Fatalf("got %v, want ErrInvalidMessage", err)
			}
		})
	}
	if _, err := signal.DecryptionErrorForOriginal([]byte{0x44, 1, 2}, signal.TypeWhisper, 1, 1); !errors.Is(err, signal.ErrInvalidMessage) {
		t.Fatalf("unparsable original: %v", err)
	}
}

// TestDecryptionErrorRoundTrip: what NewDecryptionErrorMessage writes
// ParseDecryptionErrorMessage reads.
func TestDecryptionErrorRoundTrip(t *testing.T) {
	t.Parallel()
	kp, err := signal.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, rk := range []*signal.PublicKey{nil, &kp.Public} {
		m := signal.NewDecryptionErrorMessage(rk, 1<<40, 127)
		back, err := signal.ParseDecryptionErrorMessage(m.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if back.Timestamp != 1<<40 || back.DeviceID != 127 || (back.RatchetKey == nil) != (rk == nil) ||
			rk != nil && !back.RatchetKey.Equal(*rk) {
			t.Fatalf("round trip %+v", back)
		}
	}
}

// TestDecryptionErrorNamesTheSession: the ratchet key a recipient puts in
// a DecryptionErrorMessage matches the sender's current session until the
// sender archives it.
func TestDecryptionErrorNamesTheSession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob, _ := pair(t, true, false)
	w := send(t, alice, bob, "lost")
	dem, err := signal.DecryptionErrorForOriginal(w.body, w.typ, 1234, alice.Address.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := alice.Store.LoadSession(ctx, bob.Address)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.CurrentRatchetKeyMatches(*dem.RatchetKey) {
		t.Fatal("the ratchet key of the message sent does not match the session")
	}
	other, _ := signal.GenerateKeyPair(nil)
	if rec.CurrentRatchetKeyMatches(other.Public) {
		t.Fatal("another key matches")
	}
	rec.ArchiveCurrentState()
	if rec.CurrentRatchetKeyMatches(*dem.RatchetKey) || rec.HasCurrentState(timeNow()) {
		t.Fatal("an archived session still matches")
	}
	var none *signal.SessionRecord
	if none.CurrentRatchetKeyMatches(*dem.RatchetKey) {
		t.Fatal("no record matches")
	}
}
