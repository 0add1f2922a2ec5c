package signal_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/signal"
	"github.com/hushmsg/hush/signal/signaltest"
)

// TestFingerprintOfficialVectors recomputes safety numbers made by the
// official library.
func TestFingerprintOfficialVectors(t *testing.T) {
	var v struct {
		Fingerprints []struct {
			Version, Iterations                                                         uint32
			LocalID, LocalKey, RemoteID, RemoteKey, Display, Scannable, RemoteScannable string
		}
	}
	loadJSON(t, "fingerprint.json", &v)
	if len(v.Fingerprints) == 0 {
		t.Fatal("no vectors")
	}
	for i, f := range v.Fingerprints {
		lk, err := signal.ParseIdentityKey(unhex(t, f.LocalKey))
		if err != nil {
			t.Fatal(err)
		}
		rk, err := signal.ParseIdentityKey(unhex(t, f.RemoteKey))
		if err != nil {
			t.Fatal(err)
		}
		fp, err := signal.NewFingerprint(f.Version, f.Iterations, unhex(t, f.LocalID), lk, unhex(t, f.RemoteID), rk)
		if err != nil {
			t.Fatal(err)
		}
		if fp.Display != f.Display {
			t.Fatalf("vector %d: display %s, official %s", i, fp.Display, f.Display)
		}
		if !bytes.Equal(fp.Scannable, unhex(t, f.Scannable)) {
			t.Fatalf("vector %d: scannable %x, official %s", i, fp.Scannable, f.Scannable)
		}
		if ok, err := fp.MatchesScannable(unhex(t, f.RemoteScannable)); !ok || err != nil {
			t.Fatalf("vector %d: the other side's scannable does not match (%v)", i, err)
		}
		if ok, _ := fp.MatchesScannable(unhex(t, f.Scannable)); ok {
			t.Fatalf("vector %d: our own scannable matches", i)
		}
	}
}

// TestFingerprintLibsignalVector is the version 1 vector of libsignal's
// fingerprint.rs.
func TestFingerprintLibsignalVector(t *testing.T) {
	alice, _ := signal.ParseIdentityKey(unhex(t, "0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868"))
	bob, _ := signal.ParseIdentityKey(unhex(t, "05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b"))
	fp, err := signal.NewFingerprint(1, 5200, []byte("+14152222222"), alice, []byte("+14153333333"), bob)
	if err != nil {
		t.Fatal(err)
	}
	if fp.Display != "300354477692869396892869876765458257569162576843440918079131" {
		t.Fatalf("display %s", fp.Display)
	}
	want := "080112220a201e301a0353dce3dbe7684cb8336e85136cdc0ee96219494ada305d62a7bd61df1a220a20d62cbf73a11592015b6b9f1682ac306fea3aaf3885b84d12bca631e9d4fb3a4d"
	if !bytes.Equal(fp.Scannable, unhex(t, want)) {
		t.Fatalf("scannable %x", fp.Scannable)
	}
	v2, _ := signal.NewFingerprint(2, 5200, []byte("+14152222222"), alice, []byte("+14153333333"), bob)
	if _, err := fp.MatchesScannable(v2.Scannable); !errors.Is(err, signal.ErrInvalidFingerprint) {
		t.Fatalf("version mismatch: %v", err)
	}
	if _, err := signal.NewFingerprint(2, 1, nil, alice, nil, bob); !errors.Is(err, signal.ErrInvalidArgument) {
		t.Fatalf("one iteration: %v", err)
	}
}

type senderKeyVectors struct {
	Sender struct {
		Name   string
		Device uint32
	}
	DistributionID string
	Distribution   string
	ChainID        uint32
	ReceiverRecord string
	SenderRecord   string
	Messages       []struct {
		Type            int
		Body, Plaintext string
	}
}

// TestSenderKeyOfficialVectors decrypts group messages made by the
// official library, from its distribution message and from its record.
func TestSenderKeyOfficialVectors(t *testing.T) {
	var v senderKeyVectors
	loadJSON(t, "senderkey.json", &v)
	ctx := context.Background()
	sender := signal.ProtocolAddress{Name: v.Sender.Name, DeviceID: v.Sender.Device}
	dist := uuid.MustParse(v.DistributionID)

	skdm, err := signal.ParseSenderKeyDistributionMessage(unhex(t, v.Distribution))
	if err != nil {
		t.Fatal(err)
	}
	if skdm.DistributionID != dist || skdm.ChainID != v.ChainID || skdm.Iteration != 0 {
		t.Fatalf("distribution message %v", skdm)
	}
	if !bytes.Equal(skdm.Bytes(), unhex(t, v.Distribution)) {
		t.Fatal("Bytes differs from the input")
	}
	fromSKDM := newDevice(t, bobAddr, 1)
	if err := fromSKDM.Cipher.ProcessSenderKeyDistribution(ctx, sender, skdm); err != nil {
		t.Fatal(err)
	}
	// The receiving record the official library stored loads here.
	rec, err := signal.ParseSenderKeyRecord(unhex(t, v.ReceiverRecord))
	if err != nil {
		t.Fatal(err)
	}
	fromRecord := newDevice(t, bobAddr, 1)
	if err := fromRecord.Store.StoreSenderKey(ctx, sender, dist, rec); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.Bytes(), unhex(t, v.ReceiverRecord)) {
		t.Fatal("receiver record does not reserialize to the official bytes")
	}
	order := []int{3, 0, 1, 9, 2, 8, 4, 7, 6, 5}
	for _, d := range []*signaltest.Device{fromSKDM, fromRecord} {
		for _, i := range order {
			m := v.Messages[i]
			if m.Type != int(signal.TypeSenderKey) {
				t.Fatalf("type %d", m.Type)
			}
			pt, err := d.Cipher.GroupDecrypt(ctx, sender, unhex(t, m.Body))
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if !bytes.Equal(pt, unhex(t, m.Plaintext)) {
				t.Fatalf("message %d: %q", i, pt)
			}
		}
		if _, err := d.Cipher.GroupDecrypt(ctx, sender, unhex(t, v.Messages[4].Body)); !errors.Is(err, signal.ErrDuplicateMessage) {
			t.Fatalf("replay: %v", err)
		}
	}
	// Go takes over the sender's record and goes on where it stopped.
	srec, err := signal.ParseSenderKeyRecord(unhex(t, v.SenderRecord))
	if err != nil {
		t.Fatal(err)
	}
	st := signaltest.NewStore(mustIdentity(t), 5)
	if err := st.StoreSenderKey(ctx, sender, dist, srec); err != nil {
		t.Fatal(err)
	}
	c, err := signal.NewCipher(sender, st.Config())
	if err != nil {
		t.Fatal(err)
	}
	body, err := c.GroupEncrypt(ctx, dist, []byte("Go continues"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := signal.ParseSenderKeyMessage(body)
	if m.Iteration != uint32(len(v.Messages)) || m.ChainID != v.ChainID {
		t.Fatalf("continued at iteration %d, chain %d", m.Iteration, m.ChainID)
	}
	if pt, err := fromSKDM.Cipher.GroupDecrypt(ctx, sender, body); err != nil || string(pt) != "Go continues" {
		t.Fatalf("decrypt Go's continuation: %q, %v", pt, err)
	}
}

func mustIdentity(t testing.TB) signal.IdentityKeyPair {
	t.Helper()
	id, err := signal.GenerateIdentityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type sessionVectors struct {
	Alice struct {
		Name     string
		Device   uint32
		Identity string
	}
	Bob struct {
		Name                                               string
		Device, RegistrationID                             uint32
		IdentityKeyPair, SignedPreKey, KyberPreKey, PreKey string
	}
	PrekeyMessages []struct {
		Type            int
		Body, Plaintext string
	}
	BobRecordAfterFirst  string
	BobRecordAfterAnswer string
	Answer               string
	Later                []struct {
		Type            int
		Body, Plaintext string
	}
}

// officialBob is Bob of session.json with the official library's records.
func officialBob(t *testing.T, v *sessionVectors) (*signal.Cipher, *signaltest.Store) {
	t.Helper()
	id, err := signal.ParseIdentityKeyPair(unhex(t, v.Bob.IdentityKeyPair))
	if err != nil {
		t.Fatal(err)
	}
	st := signaltest.NewStore(id, v.Bob.RegistrationID)
	signed, err := signal.ParseSignedPreKeyRecord(unhex(t, v.Bob.SignedPreKey))
	if err != nil {
		t.Fatal(err)
	}
	kyber, err := signal.ParseKyberPreKeyRecord(unhex(t, v.Bob.KyberPreKey))
	if err != nil {
		t.Fatal(err)
	}
	pre, err := signal.ParsePreKeyRecord(unhex(t, v.Bob.PreKey))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ got, want []byte }{{signed.Bytes(), unhex(t, v.Bob.SignedPreKey)}, {kyber.Bytes(), unhex(t, v.Bob.KyberPreKey)}, {pre.Bytes(), unhex(t, v.Bob.PreKey)}} {
		if !bytes.Equal(r.got, r.want) {
			t.Fatalf("prekey record reserializes differently:\n%x\n%x", r.got, r.want)
		}
	}
	if !id.Public.Verify(signed.KeyPair.Public.Bytes(), signed.Signature) || !id.Public.Verify(kyber.KeyPair.Public.Bytes(), kyber.Signature) {
		t.Fatal("official prekey signatures do not verify")
	}
	st.AddSignedPreKey(signed)
	st.AddKyberPreKey(kyber, false)
	st.AddPreKey(pre)
	c, err := signal.NewCipher(signal.ProtocolAddress{Name: v.Bob.Name, DeviceID: v.Bob.Device}, st.Config())
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

// TestSessionOfficialVectors: Go, as Bob with the official library's
// prekey records, decrypts the PreKeySignalMessages the official library
// sent (its Kyber ciphertext decapsulated here), and continues from Bob's
// session records made by the official library.
func TestSessionOfficialVectors(t *testing.T) {
	needSPQR(t)
	var v sessionVectors
	loadJSON(t, "session.json", &v)
	ctx := context.Background()
	alice := signal.ProtocolAddress{Name: v.Alice.Name, DeviceID: v.Alice.Device}

	t.Run("prekey messages", func(t *testing.T) {
		bob, st := officialBob(t, &v)
		for _, m := range v.PrekeyMessages {
			if m.Type != int(signal.TypePreKey) {
				t.Fatalf("type %d", m.Type)
			}
			pt, err := bob.DecryptPreKey(ctx, alice, unhex(t, m.Body))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pt, unhex(t, m.Plaintext)) {
				t.Fatalf("decrypted %q", pt)
			}
		}
		if st.PreKeyCount() != 0 || st.HasKyberPreKey(8) {
			t.Fatal("prekeys not consumed")
		}
	})
	t.Run("official records", func(t *testing.T) {
		bob, st := officialBob(t, &v)
		st.SetSessionBytes(alice, unhex(t, v.BobRecordAfterFirst))
		rec, err := st.LoadSession(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rec.Bytes(), unhex(t, v.BobRecordAfterFirst)) {
			t.Fatal("official session record does not reserialize to its bytes")
		}
		// The second prekey message belongs to the recorded session.
		second := v.PrekeyMessages[1]
		if pt, err := bob.DecryptPreKey(ctx, alice, unhex(t, second.Body)); err != nil || !bytes.Equal(pt, unhex(t, second.Plaintext)) {
			t.Fatalf("second prekey message with the official record: %q, %v", pt, err)
		}
		st.SetSessionBytes(alice, unhex(t, v.BobRecordAfterAnswer))
		for _, i := range []int{2, 0, 4, 1} {
			m := v.Later[i]
			if m.Type != int(signal.TypeWhisper) {
				t.Fatalf("type %d", m.Type)
			}
			pt, err := bob.Decrypt(ctx, alice, unhex(t, m.Body))
			if err != nil || !bytes.Equal(pt, unhex(t, m.Plaintext)) {
				t.Fatalf("later message %d: %q, %v", i, pt, err)
			}
		}
		if _, err := bob.Decrypt(ctx, alice, unhex(t, v.Later[0].Body)); !errors.Is(err, signal.ErrDuplicateMessage) {
			t.Fatalf("replay: %v", err)
		}
	})
}
