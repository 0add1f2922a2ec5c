package signal_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"testing"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/signal"
)

// Decoders must turn any input into a typed error, never a panic, and
// what they accept must reserialize to the same bytes.

func seedsFromKAT(f *testing.F, pick func(*sessionVectors, *senderKeyVectors) []string) {
	f.Helper()
	var sv sessionVectors
	var kv senderKeyVectors
	for name, v := range map[string]any{"session.json": &sv, "senderkey.json": &kv} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		if err := jsonUnmarshal(b, v); err != nil {
			f.Fatal(err)
		}
	}
	for _, s := range pick(&sv, &kv) {
		b, err := hex.DecodeString(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParseSignalMessage(f *testing.F) {
	seedsFromKAT(f, func(s *sessionVectors, _ *senderKeyVectors) []string {
		out := []string{s.Answer}
		for _, m := range s.Later {
			out = append(out, m.Body)
		}
		return out
	})
	f.Add([]byte{0x44})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := signal.ParseSignalMessage(b)
		if err != nil {
			if !errors.Is(err, signal.ErrInvalidMessage) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !bytes.Equal(m.Bytes(), b) {
			t.Fatal("Bytes differs from the input")
		}
	})
}

func FuzzParsePreKeySignalMessage(f *testing.F) {
	seedsFromKAT(f, func(s *sessionVectors, _ *senderKeyVectors) []string {
		return []string{s.PrekeyMessages[0].Body, s.PrekeyMessages[1].Body}
	})
	f.Add([]byte{0x44, 0x08})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := signal.ParsePreKeySignalMessage(b)
		if err != nil {
			if !errors.Is(err, signal.ErrInvalidMessage) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !bytes.Equal(m.Bytes(), b) || m.Message == nil {
			t.Fatal("accepted message is inconsistent")
		}
	})
}

func FuzzParseSenderKeyMessage(f *testing.F) {
	seedsFromKAT(f, func(_ *sessionVectors, k *senderKeyVectors) []string {
		var out []string
		for _, m := range k.Messages[:3] {
			out = append(out, m.Body)
		}
		return out
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := signal.ParseSenderKeyMessage(b)
		if err != nil {
			if !errors.Is(err, signal.ErrInvalidMessage) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !bytes.Equal(m.Bytes(), b) {
			t.Fatal("Bytes differs from the input")
		}
	})
}

func FuzzParseSenderKeyDistributionMessage(f *testing.F) {
	seedsFromKAT(f, func(_ *sessionVectors, k *senderKeyVectors) []string { return []string{k.Distribution} })
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := signal.ParseSenderKeyDistributionMessage(b)
		if err != nil {
			if !errors.Is(err, signal.ErrInvalidMessage) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(m.ChainKey) != 32 || !bytes.Equal(m.Bytes(), b) {
			t.Fatal("accepted message is inconsistent")
		}
	})
}

// FuzzSessionRecord loads any bytes as Bob's record and uses it to
// encrypt and to decrypt Alice's messages: damaged records fail with
// errors, never panics.
func FuzzSessionRecord(f *testing.F) {
	seedsFromKAT(f, func(s *sessionVectors, _ *senderKeyVectors) []string {
		return []string{s.BobRecordAfterFirst, s.BobRecordAfterAnswer}
	})
	var v sessionVectors
	b, err := os.ReadFile("testdata/session.json")
	if err != nil {
		f.Fatal(err)
	}
	if err := jsonUnmarshal(b, &v); err != nil {
		f.Fatal(err)
	}
	later, _ := hex.DecodeString(v.Later[0].Body)
	prekey, _ := hex.DecodeString(v.PrekeyMessages[1].Body)
	alice := signal.ProtocolAddress{Name: v.Alice.Name, DeviceID: v.Alice.Device}
	f.Fuzz(func(t *testing.T, rec []byte) {
		r, err := signal.ParseSessionRecord(rec)
		if err != nil {
			if !errors.Is(err, signal.ErrInvalidRecord) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		bob, st := officialBob(t, &v)
		st.SetSessionBytes(alice, r.Bytes())
		ctx := context.Background()
		_, _, _ = bob.Encrypt(ctx, alice, []byte("x"))
		_, _ = bob.Decrypt(ctx, alice, later)
		_, _ = bob.DecryptPreKey(ctx, alice, prekey)
		_ = r.HasCurrentState(timeNow())
	})
}

// FuzzSenderKeyRecord loads any bytes as a sender-key record and uses it.
func FuzzSenderKeyRecord(f *testing.F) {
	seedsFromKAT(f, func(_ *sessionVectors, k *senderKeyVectors) []string {
		return []string{k.ReceiverRecord, k.SenderRecord}
	})
	var v senderKeyVectors
	b, err := os.ReadFile("testdata/senderkey.json")
	if err != nil {
		f.Fatal(err)
	}
	if err := jsonUnmarshal(b, &v); err != nil {
		f.Fatal(err)
	}
	msg, _ := hex.DecodeString(v.Messages[2].Body)
	sender := signal.ProtocolAddress{Name: v.Sender.Name, DeviceID: v.Sender.Device}
	dist := uuid.MustParse(v.DistributionID)
	f.Fuzz(func(t *testing.T, rec []byte) {
		r, err := signal.ParseSenderKeyRecord(rec)
		if err != nil {
			if !errors.Is(err, signal.ErrInvalidRecord) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		d := newDevice(t, sender, 1)
		ctx := context.Background()
		if err := d.Store.StoreSenderKey(ctx, sender, dist, r); err != nil {
			t.Fatal(err)
		}
		_, _ = d.Cipher.GroupDecrypt(ctx, sender, msg)
		_, _ = d.Cipher.GroupEncrypt(ctx, dist, []byte("x"))
		_, _ = d.Cipher.CreateSenderKeyDistribution(ctx, dist)
	})
}

// FuzzDecrypt feeds any bytes to an established session, as a
// SignalMessage and as a PreKeySignalMessage; afterwards the session
// still works.
func FuzzDecrypt(f *testing.F) {
	alice, bob, _ := pair(f, true, false)
	first := send(f, alice, bob, "one")
	deliver(f, alice, bob, first)
	deliver(f, bob, alice, send(f, bob, alice, "ack"))
	w := send(f, alice, bob, "two")
	f.Add(w.body)
	f.Add(first.body)
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		if _, err := bob.Cipher.Decrypt(ctx, alice.Address, b); err == nil && !bytes.Equal(b, w.body) {
			t.Fatal("decrypted forged input")
		}
		_, _ = bob.Cipher.DecryptPreKey(ctx, alice.Address, b)
		deliver(t, bob, alice, send(t, bob, alice, "still works"))
	})
}

// FuzzParseKeysAndRecords covers the remaining decoders: keys, prekey
// records, identity key pairs and scannable fingerprints.
func FuzzParseKeysAndRecords(f *testing.F) {
	id := mustIdentity(f)
	pre, _ := signal.GeneratePreKey(1, nil)
	signed, _ := signal.GenerateSignedPreKey(id, 2, timeNow(), nil)
	kyber, _ := signal.GenerateKyberPreKey(id, 3, timeNow(), nil)
	fp, _ := signal.NewFingerprint(2, 2, []byte("a"), id.Public, []byte("b"), id.Public)
	for _, b := range [][]byte{id.Public.Bytes(), id.Bytes(), pre.Bytes(), signed.Bytes(), kyber.Bytes(), fp.Scannable} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		typed := func(err error, want error) {
			if err != nil && !errors.Is(err, want) {
				t.Fatalf("untyped error %v", err)
			}
		}
		_, err := signal.ParsePublicKey(b)
		typed(err, signal.ErrInvalidKey)
		_, err = signal.ParsePrivateKey(b)
		typed(err, signal.ErrInvalidKey)
		_, err = signal.ParseIdentityKeyPair(b)
		typed(err, signal.ErrInvalidKey)
		_, err = signal.ParseKEMPublicKey(b)
		typed(err, signal.ErrInvalidKey)
		_, err = signal.ParseKEMSecretKey(b)
		typed(err, signal.ErrInvalidKey)
		_, err = kyber.KeyPair.Secret.Decapsulate(b)
		typed(err, signal.ErrInvalidMessage)
		_, err = signal.ParsePreKeyRecord(b)
		typed(err, signal.ErrInvalidRecord)
		_, err = signal.ParseSignedPreKeyRecord(b)
		typed(err, signal.ErrInvalidRecord)
		_, err = signal.ParseKyberPreKeyRecord(b)
		typed(err, signal.ErrInvalidRecord)
		_, err = fp.MatchesScannable(b)
		typed(err, signal.ErrInvalidFingerprint)
	})
}

func FuzzParsePlaintextContent(f *testing.F) {
	f.Add(signal.NewPlaintextContent(signal.NewDecryptionErrorMessage(nil, 1700000000000, 3)).Bytes())
	f.Add([]byte{0xC0, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		pc, err := signal.ParsePlaintextContent(b)
		if err == nil {
			var m *signal.DecryptionErrorMessage
			if m, err = pc.DecryptionErrorMessage(); err == nil {
				if again := signal.NewPlaintextContent(signal.NewDecryptionErrorMessage(m.RatchetKey, m.Timestamp, m.DeviceID)); again == nil {
					t.Fatal("no plaintext content")
				}
				return
			}
		}
		if !errors.Is(err, signal.ErrInvalidMessage) {
			t.Fatalf("untyped error %v", err)
		}
	})
}
