package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/libsignal/keys/identity"
	"go.mau.fi/libsignal/keys/prekey"
	"go.mau.fi/libsignal/protocol"
	"go.mau.fi/libsignal/session"
	"go.mau.fi/libsignal/state/record"
	"go.mau.fi/libsignal/util/keyhelper"
	"go.mau.fi/libsignal/util/optional"
	"go.uber.org/goleak"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func assert(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func open(t *testing.T, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dir)
	noErr(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// newAccount saves an account with a fresh identity in s.
func newAccount(t *testing.T, s *store.Store, id string, dev uint32) *store.Account {
	t.Helper()
	ident, err := keyhelper.GenerateIdentityKeyPair()
	noErr(t, err)
	a := &store.Account{
		AccountID: id, DeviceID: dev, Password: "pw-" + store.Secret(id),
		Number: "+1555000000" + fmt.Sprint(dev), Identity: ident, RegistrationID: 1000 + dev,
	}
	noErr(t, s.CreateAccount(context.Background(), a))
	return a
}

func TestAccountRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	_, err := s.Account()
	assert(t, errors.Is(err, store.ErrNoAccount), "empty store: got %v, want ErrNoAccount", err)
	a := newAccount(t, s, "acct-a", 1)
	err = s.CreateAccount(ctx, a)
	assert(t, errors.Is(err, store.ErrHasAccount), "second account: got %v, want ErrHasAccount", err)
	noErr(t, s.Close())

	s2 := open(t, dir)
	got, err := s2.Account()
	noErr(t, err)
	assert(t, got.AccountID == a.AccountID && got.DeviceID == 1 && got.Number == a.Number && got.RegistrationID == a.RegistrationID,
		"reloaded account %v, want %v", got, a)
	assert(t, got.Password.Reveal() == a.Password.Reveal(), "password not kept")
	assert(t, bytes.Equal(got.Identity.PublicKey().Serialize(), a.Identity.PublicKey().Serialize()), "identity public key not kept")
	gp, ap := got.Identity.PrivateKey().Serialize(), a.Identity.PrivateKey().Serialize()
	assert(t, gp == ap, "identity private key not kept")
	assert(t, s2.GetLocalRegistrationID() == a.RegistrationID, "GetLocalRegistrationID = %d", s2.GetLocalRegistrationID())

	fi, err := os.Stat(filepath.Join(dir, store.FileName))
	noErr(t, err)
	assert(t, fi.Mode().Perm() == 0o600, "database mode %v, want 0600", fi.Mode().Perm())
}

func TestCreateAccountInRolledBackTxLeavesNoAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, t.TempDir())
	ident, err := keyhelper.GenerateIdentityKeyPair()
	noErr(t, err)
	boom := errors.New("boom")
	err = s.InTx(ctx, func(ctx context.Context) error {
		noErr(t, s.CreateAccount(ctx, &store.Account{AccountID: "x", DeviceID: 1, Password: "p", Identity: ident}))
		return boom
	})
	assert(t, errors.Is(err, boom), "InTx returned %v, want boom", err)
	_, err = s.Account()
	assert(t, errors.Is(err, store.ErrNoAccount), "account after rollback: %v", err)
	assert(t, s.GetIdentityKeyPair() == nil, "identity after rollback")
}

func TestSecretsAreRedacted(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	a := newAccount(t, s, "acct-r", 1)
	priv := a.Identity.PrivateKey().Serialize()
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "account", a, "password", a.Password,
		"seed", store.SecretBytes(priv[:]), "pq", &store.PQPreKey{ID: 1, Seed: store.SecretBytes(priv[:])})
	printed := fmt.Sprintf("%v %s %+v %#v %x", a, a.Password, a.Password, a.Password, store.SecretBytes(priv[:]))
	for name, out := range map[string]string{"log": logged.String(), "fmt": printed} {
		assert(t, !strings.Contains(out, a.Password.Reveal()), "%s output shows the password: %s", name, out)
		assert(t, !strings.Contains(out, fmt.Sprintf("%x", priv)), "%s output shows the private key: %s", name, out)
	}
	assert(t, strings.Contains(logged.String(), "REDACTED"), "log does not say REDACTED: %s", logged.String())
}

func TestPreKeyRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	newAccount(t, s, "acct-p", 1)
	kp, err := ecc.GenerateKeyPair()
	noErr(t, err)
	noErr(t, s.StorePreKey(ctx, 7, record.NewPreKey(7, kp, s.Serializer().PreKeyRecord)))

	ident, err := keyhelper.GenerateIdentityKeyPair()
	noErr(t, err)
	spk, err := keyhelper.GenerateSignedPreKey(ident, 3, s.Serializer().SignedPreKeyRecord)
	noErr(t, err)
	noErr(t, s.StoreSignedPreKey(ctx, 3, spk))
	noErr(t, s.StorePQPreKey(ctx, &store.PQPreKey{ID: 9, PublicKey: []byte{8, 1}, Signature: []byte{2}, Seed: []byte{3}, LastResort: true}))
	noErr(t, s.StorePQPreKey(ctx, &store.PQPreKey{ID: 10, PublicKey: []byte{8, 4}, Signature: []byte{5}, Seed: []byte{6}}))
	noErr(t, s.Close())

	s = open(t, dir)
	got, err := s.LoadPreKey(ctx, 7)
	noErr(t, err)
	assert(t, got != nil && got.ID().Value == 7, "prekey 7 not loaded")
	assert(t, bytes.Equal(got.KeyPair().PublicKey().Serialize(), kp.PublicKey().Serialize()), "prekey public key changed")
	assert(t, got.KeyPair().PrivateKey().Serialize() == kp.PrivateKey().Serialize(), "prekey private key changed")
	missing, err := s.LoadPreKey(ctx, 8)
	assert(t, err == nil && missing == nil, "missing prekey: %v %v", missing, err)

	has, err := s.ContainsPreKey(ctx, 7)
	assert(t, err == nil && has, "ContainsPreKey(7) = %v, %v", has, err)
	noErr(t, s.RemovePreKey(ctx, 7))
	has, err = s.ContainsPreKey(ctx, 7)
	assert(t, err == nil && !has, "ContainsPreKey after remove = %v, %v", has, err)

	gs, err := s.LoadSignedPreKey(ctx, 3)
	noErr(t, err)
	assert(t, gs != nil && gs.Signature() == spk.Signature() && gs.ID() == 3, "signed prekey not kept")
	assert(t, bytes.Equal(gs.KeyPair().PublicKey().Serialize(), spk.KeyPair().PublicKey().Serialize()), "signed prekey public key changed")
	all, err := s.LoadSignedPreKeys(ctx)
	assert(t, err == nil && len(all) == 1, "LoadSignedPreKeys = %d, %v", len(all), err)

	pq, err := s.LoadPQPreKey(ctx, 9)
	noErr(t, err)
	assert(t, pq != nil && pq.LastResort && bytes.Equal(pq.PublicKey, []byte{8, 1}) && bytes.Equal(pq.Seed, []byte{3}), "PQ prekey: %+v", pq)
	ec, pqn, err := s.CountPreKeys(ctx)
	assert(t, err == nil && ec == 0 && pqn == 1, "CountPreKeys = %d, %d, %v (the last resort key does not count)", ec, pqn, err)
}

func TestAllocateIDsWraps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, t.TempDir())
	ids, err := s.AllocateIDs(ctx, store.KindPreKey, 3)
	noErr(t, err)
	assert(t, fmt.Sprint(ids) == "[1 2 3]", "first ids %v", ids)
	ids, err = s.AllocateIDs(ctx, store.KindPQPreKey, 2)
	noErr(t, err)
	assert(t, fmt.Sprint(ids) == "[1 2]", "kinds count apart: %v", ids)
	_, err = s.AllocateIDs(ctx, store.KindPreKey, store.MaxKeyID-5)
	noErr(t, err)
	ids, err = s.AllocateIDs(ctx, store.KindPreKey, 4)
	noErr(t, err)
	assert(t, fmt.Sprint(ids) == fmt.Sprint([]uint32{store.MaxKeyID - 1, store.MaxKeyID, 1, 2}), "wrap: %v", ids)
}

func TestIdentityTrustOnFirstUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, t.TempDir())
	addr := protocol.NewSignalAddress("bob", 2)
	k1, err := keyhelper.GenerateIdentityKeyPair()
	noErr(t, err)
	k2, err := keyhelper.GenerateIdentityKeyPair()
	noErr(t, err)

	ok, err := s.IsTrustedIdentity(ctx, addr, k1.PublicKey())
	assert(t, err == nil && ok, "unknown identity not trusted: %v", err)
	noErr(t, s.SaveIdentity(ctx, addr, k1.PublicKey()))
	ok, err = s.IsTrustedIdentity(ctx, protocol.NewSignalAddress("bob", 1), k1.PublicKey())
	assert(t, err == nil && ok, "same key from another device of the account not trusted: %v", err)
	ok, err = s.IsTrustedIdentity(ctx, addr, k2.PublicKey())
	assert(t, err == nil && !ok, "changed identity trusted")
	noErr(t, s.SetIdentity(ctx, "bob", k2.PublicKey().Serialize()))
	ok, err = s.IsTrustedIdentity(ctx, addr, k2.PublicKey())
	assert(t, err == nil && ok, "new identity not trusted after SetIdentity: %v", err)
}

// peer is one side of a real libsignal conversation on its own store.
type peer struct {
	dir  string
	s    *store.Store
	acct *store.Account
}

func newPeer(t *testing.T, id string) *peer {
	t.Helper()
	p := &peer{dir: t.TempDir()}
	p.s = open(t, p.dir)
	p.acct = newAccount(t, p.s, id, 1)
	return p
}

// reopen closes and reopens the peer's store, as a new process would.
func (p *peer) reopen(t *testing.T) {
	t.Helper()
	noErr(t, p.s.Close())
	p.s = open(t, p.dir)
}

// bundle publishes a signed prekey and a one-time prekey of p.
func (p *peer) bundle(t *testing.T) *prekey.Bundle {
	t.Helper()
	ctx := context.Background()
	spk, err := keyhelper.GenerateSignedPreKey(p.acct.Identity, 1, p.s.Serializer().SignedPreKeyRecord)
	noErr(t, err)
	noErr(t, p.s.StoreSignedPreKey(ctx, 1, spk))
	kp, err := ecc.GenerateKeyPair()
	noErr(t, err)
	noErr(t, p.s.StorePreKey(ctx, 5, record.NewPreKey(5, kp, p.s.Serializer().PreKeyRecord)))
	return prekey.NewBundle(p.acct.RegistrationID, 1, optional.NewOptionalUint32(5), 1, kp.PublicKey(),
		spk.KeyPair().PublicKey(), spk.Signature(), identity.NewKey(p.acct.Identity.PublicKey().PublicKey()))
}

func (p *peer) cipher(other *peer) *session.Cipher {
	addr := protocol.NewSignalAddress(other.acct.AccountID, other.acct.DeviceID)
	return session.NewCipher(session.NewBuilderFromSignal(p.s, addr, p.s.Serializer()), addr)
}

func (p *peer) decrypt(t *testing.T, from *peer, ct protocol.CiphertextMessage) string {
	t.Helper()
	ctx := context.Background()
	ser := p.s.Serializer()
	var plain []byte
	var err error
	switch ct.Type() {
	case protocol.PREKEY_TYPE:
		msg, perr := protocol.NewPreKeySignalMessageFromBytes(ct.Serialize(), ser.PreKeySignalMessage, ser.SignalMessage)
		noErr(t, perr)
		plain, err = p.cipher(from).DecryptMessage(ctx, msg)
	default:
		msg, perr := protocol.NewSignalMessageFromBytes(ct.Serialize(), ser.SignalMessage)
		noErr(t, perr)
		plain, err = p.cipher(from).Decrypt(ctx, msg)
	}
	noErr(t, err)
	return string(plain)
}

// TestSessionsSurviveReopen runs a conversation in which both stores are
// closed and reopened after every message: sessions, prekeys and
// identities must all persist for the ratchet to keep working.
func TestSessionsSurviveReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := newPeer(t, "alice"), newPeer(t, "bob")
	bobAddr := protocol.NewSignalAddress("bob", 1)
	noErr(t, session.NewBuilderFromSignal(alice.s, bobAddr, alice.s.Serializer()).ProcessBundle(ctx, bob.bundle(t)))
	alice.reopen(t)

	devs, err := alice.s.GetSubDeviceSessions(ctx, "bob")
	assert(t, err == nil && fmt.Sprint(devs) == "[1]", "GetSubDeviceSessions = %v, %v", devs, err)

	send := func(from, to *peer, text string, wantType uint32) {
		t.Helper()
		ct, err := from.cipher(to).Encrypt(ctx, []byte(text))
		noErr(t, err)
		assert(t, ct.Type() == wantType, "%q: ciphertext type %d, want %d", text, ct.Type(), wantType)
		from.reopen(t)
		got := to.decrypt(t, from, ct)
		assert(t, got == text, "decrypted %q, want %q", got, text)
		to.reopen(t)
	}
	send(alice, bob, "hello bob", protocol.PREKEY_TYPE)
	has, err := bob.s.ContainsPreKey(ctx, 5)
	assert(t, err == nil && !has, "used one-time prekey not removed")
	send(bob, alice, "hi alice", protocol.WHISPER_TYPE)
	send(alice, bob, "second", protocol.WHISPER_TYPE)
	send(alice, bob, "third", protocol.WHISPER_TYPE)
	send(bob, alice, "bye", protocol.WHISPER_TYPE)

	known, err := bob.s.Identity(ctx, "alice")
	noErr(t, err)
	assert(t, bytes.Equal(known, alice.acct.Identity.PublicKey().Serialize()), "bob does not trust alice's identity key")

	noErr(t, alice.s.DeleteAccountSessions(ctx, "bob"))
	has, err = alice.s.ContainsSession(ctx, bobAddr)
	assert(t, err == nil && !has, "session with bob left after DeleteAccountSessions")
}

// TestTxRollsBackSessionChanges checks that a decrypt inside a transaction
// that fails leaves the session as it was, so the message can be decrypted
// again.
func TestTxRollsBackSessionChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := newPeer(t, "alice"), newPeer(t, "bob")
	noErr(t, session.NewBuilderFromSignal(alice.s, protocol.NewSignalAddress("bob", 1), alice.s.Serializer()).ProcessBundle(ctx, bob.bundle(t)))
	ct, err := alice.cipher(bob).Encrypt(ctx, []byte("once"))
	noErr(t, err)

	boom := errors.New("crash before the message was stored")
	err = bob.s.InTx(ctx, func(ctx context.Context) error {
		msg, err := protocol.NewPreKeySignalMessageFromBytes(ct.Serialize(), bob.s.Serializer().PreKeySignalMessage, bob.s.Serializer().SignalMessage)
		noErr(t, err)
		plain, err := bob.cipher(alice).DecryptMessage(ctx, msg)
		noErr(t, err)
		assert(t, string(plain) == "once", "decrypted %q", plain)
		return boom
	})
	assert(t, errors.Is(err, boom), "InTx = %v", err)
	has, err := bob.s.ContainsSession(ctx, protocol.NewSignalAddress("alice", 1))
	assert(t, err == nil && !has, "session kept after rollback")
	got := bob.decrypt(t, alice, ct)
	assert(t, got == "once", "decrypt after rollback: %q", got)
}

func TestHistoryDropsDuplicates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, t.TempDir())
	m := &store.Message{EnvelopeID: "e1", Direction: store.Incoming, FromAccount: "bob", FromDevice: 2, PeerAccount: "bob", Kind: "text", Body: "hi"}
	added, err := s.AddMessage(ctx, m)
	assert(t, err == nil && added, "first add = %v, %v", added, err)
	added, err = s.AddMessage(ctx, m)
	assert(t, err == nil && !added, "duplicate add = %v, %v", added, err)
	other := *m
	other.FromDevice = 3
	added, err = s.AddMessage(ctx, &other)
	assert(t, err == nil && added, "same id from another device = %v, %v", added, err)
	has, err := s.HasMessage(ctx, "bob", 2, "e1")
	assert(t, err == nil && has, "HasMessage = %v, %v", has, err)
	list, err := s.Messages(ctx, "bob", 10)
	assert(t, err == nil && len(list) == 2 && list[0].FromDevice == 2, "Messages = %+v, %v", list, err)
}

func TestContacts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, t.TempDir())
	a := newAccount(t, s, "me", 1)
	noErr(t, s.SaveContact(ctx, "+15550000002", "bob"))
	id, err := s.ContactAccount(ctx, "+15550000002")
	assert(t, err == nil && id == "bob", "ContactAccount = %q, %v", id, err)
	n, err := s.ContactNumber(ctx, "bob")
	assert(t, err == nil && n == "+15550000002", "ContactNumber = %q, %v", n, err)
	n, err = s.ContactNumber(ctx, "me")
	assert(t, err == nil && n == a.Number, "own number = %q, %v", n, err)
	n, err = s.ContactNumber(ctx, "nobody")
	assert(t, err == nil && n == "", "unknown = %q, %v", n, err)
}

func TestIdentityKeyPairChecksTheKeysMatch(t *testing.T) {
	t.Parallel()
	a, err := keyhelper.GenerateIdentityKeyPair()
	noErr(t, err)
	b, err := keyhelper.GenerateIdentityKeyPair()
	noErr(t, err)
	ap, bp := a.PrivateKey().Serialize(), b.PrivateKey().Serialize()
	_, err = store.IdentityKeyPair(a.PublicKey().Serialize(), ap[:])
	noErr(t, err)
	_, err = store.IdentityKeyPair(a.PublicKey().Serialize(), bp[:])
	assert(t, err != nil, "mismatched key pair accepted")
	_, err = store.IdentityKeyPair(a.PublicKey().Serialize()[1:], ap[:])
	assert(t, err != nil, "short public key accepted")
	_, err = store.IdentityKeyPair(a.PublicKey().Serialize(), ap[:31])
	assert(t, err != nil, "short private key accepted")
}
