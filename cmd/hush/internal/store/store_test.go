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

	"time"

	"go.uber.org/goleak"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/signal"
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
	ident, err := signal.GenerateIdentityKeyPair(nil)
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
	assert(t, got.Identity.Public.Equal(a.Identity.Public), "identity public key not kept")
	assert(t, bytes.Equal(got.Identity.Private.Bytes(), a.Identity.Private.Bytes()), "identity private key not kept")
	reg, err := s2.LocalRegistrationID(ctx)
	assert(t, err == nil && reg == a.RegistrationID, "LocalRegistrationID = %d, %v", reg, err)

	fi, err := os.Stat(filepath.Join(dir, store.FileName))
	noErr(t, err)
	assert(t, fi.Mode().Perm() == 0o600, "database mode %v, want 0600", fi.Mode().Perm())
}

func TestCreateAccountInRolledBackTxLeavesNoAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, t.TempDir())
	ident, err := signal.GenerateIdentityKeyPair(nil)
	noErr(t, err)
	boom := errors.New("boom")
	err = s.InTx(ctx, func(ctx context.Context) error {
		noErr(t, s.CreateAccount(ctx, &store.Account{AccountID: "x", DeviceID: 1, Password: "p", Identity: ident}))
		return boom
	})
	assert(t, errors.Is(err, boom), "InTx returned %v, want boom", err)
	_, err = s.Account()
	assert(t, errors.Is(err, store.ErrNoAccount), "account after rollback: %v", err)
	_, err = s.IdentityKeyPair(ctx)
	assert(t, errors.Is(err, store.ErrNoAccount), "identity after rollback: %v", err)
}

func TestSecretsAreRedacted(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	a := newAccount(t, s, "acct-r", 1)
	priv := a.Identity.Private.Bytes()
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "account", a, "password", a.Password,
		"seed", store.SecretBytes(priv), "identity", a.Identity)
	printed := fmt.Sprintf("%v %s %+v %#v %x %v", a, a.Password, a.Password, a.Password, store.SecretBytes(priv), a.Identity)
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
	a := newAccount(t, s, "acct-p", 1)
	pk, err := signal.GeneratePreKey(7, nil)
	noErr(t, err)
	noErr(t, s.StorePreKey(ctx, pk))
	spk, err := signal.GenerateSignedPreKey(a.Identity, 3, time.Now(), nil)
	noErr(t, err)
	noErr(t, s.StoreSignedPreKey(ctx, spk))
	last, err := signal.GenerateKyberPreKey(a.Identity, 9, time.Now(), nil)
	noErr(t, err)
	noErr(t, s.StoreKyberPreKey(ctx, last, true))
	one, err := signal.GenerateKyberPreKey(a.Identity, 10, time.Now(), nil)
	noErr(t, err)
	noErr(t, s.StoreKyberPreKey(ctx, one, false))
	noErr(t, s.Close())

	s = open(t, dir)
	got, err := s.PreKey(ctx, 7)
	noErr(t, err)
	assert(t, got.ID == 7 && bytes.Equal(got.Bytes(), pk.Bytes()), "prekey 7 changed")
	_, err = s.PreKey(ctx, 8)
	assert(t, errors.Is(err, signal.ErrInvalidPreKeyID), "missing prekey: %v", err)
	noErr(t, s.RemovePreKey(ctx, 7))
	_, err = s.PreKey(ctx, 7)
	assert(t, errors.Is(err, signal.ErrInvalidPreKeyID), "prekey after remove: %v", err)

	gs, err := s.SignedPreKey(ctx, 3)
	noErr(t, err)
	assert(t, bytes.Equal(gs.Bytes(), spk.Bytes()), "signed prekey changed")
	_, err = s.SignedPreKey(ctx, 4)
	assert(t, errors.Is(err, signal.ErrInvalidSignedPreKeyID), "missing signed prekey: %v", err)

	ec, pq, err := s.CountPreKeys(ctx)
	assert(t, err == nil && ec == 0 && pq == 1, "CountPreKeys = %d, %d, %v (the last resort key does not count)", ec, pq, err)
	base, err := signal.GenerateKeyPair(nil)
	noErr(t, err)
	// A one-time Kyber key goes once used; the last-resort key stays, and
	// the same session start on it twice is refused.
	noErr(t, s.MarkKyberPreKeyUsed(ctx, 10, 3, base.Public))
	_, err = s.KyberPreKey(ctx, 10)
	assert(t, errors.Is(err, signal.ErrInvalidKyberPreKeyID), "one-time kyber key after use: %v", err)
	noErr(t, s.MarkKyberPreKeyUsed(ctx, 9, 3, base.Public))
	gk, err := s.KyberPreKey(ctx, 9)
	assert(t, err == nil && bytes.Equal(gk.Bytes(), last.Bytes()), "last-resort key after use: %v", err)
	err = s.MarkKyberPreKeyUsed(ctx, 9, 3, base.Public)
	assert(t, errors.Is(err, signal.ErrInvalidMessage), "replayed last-resort use: %v", err)
	other, err := signal.GenerateKeyPair(nil)
	noErr(t, err)
	noErr(t, s.MarkKyberPreKeyUsed(ctx, 9, 3, other.Public))
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
	addr := signal.ProtocolAddress{Name: "bob", DeviceID: 2}
	k1, err := signal.GenerateIdentityKeyPair(nil)
	noErr(t, err)
	k2, err := signal.GenerateIdentityKeyPair(nil)
	noErr(t, err)

	ok, err := s.IsTrustedIdentity(ctx, addr, k1.Public, signal.Sending)
	assert(t, err == nil && ok, "unknown identity not trusted: %v", err)
	changed, err := s.SaveIdentity(ctx, addr, k1.Public)
	assert(t, err == nil && !changed, "first identity: changed %v, %v", changed, err)
	ok, err = s.IsTrustedIdentity(ctx, signal.ProtocolAddress{Name: "bob", DeviceID: 1}, k1.Public, signal.Receiving)
	assert(t, err == nil && ok, "same key from another device of the account not trusted: %v", err)
	ok, err = s.IsTrustedIdentity(ctx, addr, k2.Public, signal.Sending)
	assert(t, err == nil && !ok, "changed identity trusted")
	known, found, err := s.Identity(ctx, addr)
	assert(t, err == nil && found && known.Equal(k1.Public), "Identity = %v %v %v", known, found, err)
	noErr(t, s.SetIdentity(ctx, "bob", k2.Public.Bytes()))
	ok, err = s.IsTrustedIdentity(ctx, addr, k2.Public, signal.Sending)
	assert(t, err == nil && ok, "new identity not trusted after SetIdentity: %v", err)
	changed, err = s.SaveIdentity(ctx, addr, k1.Public)
	assert(t, err == nil && changed, "SaveIdentity of another key: changed %v, %v", changed, err)
}

// peer is one side of a real conversation (package signal) on its own
// store.
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

func (p *peer) addr() signal.ProtocolAddress {
	return signal.ProtocolAddress{Name: p.acct.AccountID, DeviceID: p.acct.DeviceID}
}

// bundle publishes a signed prekey, a Kyber last-resort key and a
// one-time prekey of p.
func (p *peer) bundle(t *testing.T) *signal.PreKeyBundle {
	t.Helper()
	ctx := context.Background()
	spk, err := signal.GenerateSignedPreKey(p.acct.Identity, 1, time.Now(), nil)
	noErr(t, err)
	noErr(t, p.s.StoreSignedPreKey(ctx, spk))
	kyber, err := signal.GenerateKyberPreKey(p.acct.Identity, 2, time.Now(), nil)
	noErr(t, err)
	noErr(t, p.s.StoreKyberPreKey(ctx, kyber, true))
	pk, err := signal.GeneratePreKey(5, nil)
	noErr(t, err)
	noErr(t, p.s.StorePreKey(ctx, pk))
	pub := pk.KeyPair.Public
	return &signal.PreKeyBundle{
		RegistrationID: p.acct.RegistrationID, DeviceID: 1, PreKeyID: 5, PreKey: &pub,
		SignedPreKeyID: 1, SignedPreKey: spk.KeyPair.Public, SignedPreKeySignature: spk.Signature,
		IdentityKey:   p.acct.Identity.Public,
		KyberPreKeyID: 2, KyberPreKey: kyber.KeyPair.Public, KyberPreKeySignature: kyber.Signature,
	}
}

func (p *peer) cipher(t *testing.T) *signal.Cipher {
	t.Helper()
	c, err := signal.NewCipher(p.addr(), p.s.SignalConfig())
	noErr(t, err)
	return c
}

func (p *peer) decrypt(t *testing.T, ctx context.Context, from *peer, typ signal.CiphertextType, ct []byte) (string, error) {
	t.Helper()
	var plain []byte
	var err error
	if typ == signal.TypePreKey {
		plain, err = p.cipher(t).DecryptPreKey(ctx, from.addr(), ct)
	} else {
		plain, err = p.cipher(t).Decrypt(ctx, from.addr(), ct)
	}
	return string(plain), err
}

// TestSessionsSurviveReopen runs a conversation in which both stores are
// closed and reopened after every message: sessions, prekeys and
// identities must all persist for the ratchet to keep working.
func TestSessionsSurviveReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := newPeer(t, "alice"), newPeer(t, "bob")
	noErr(t, alice.cipher(t).ProcessPreKeyBundle(ctx, bob.addr(), bob.bundle(t)))
	alice.reopen(t)

	devs, err := alice.s.SessionDevices(ctx, "bob")
	assert(t, err == nil && fmt.Sprint(devs) == "[1]", "SessionDevices = %v, %v", devs, err)

	send := func(from, to *peer, text string, wantType signal.CiphertextType) {
		t.Helper()
		typ, ct, err := from.cipher(t).Encrypt(ctx, to.addr(), []byte(text))
		noErr(t, err)
		assert(t, typ == wantType, "%q: ciphertext type %d, want %d", text, typ, wantType)
		from.reopen(t)
		got, err := to.decrypt(t, ctx, from, typ, ct)
		noErr(t, err)
		assert(t, got == text, "decrypted %q, want %q", got, text)
		to.reopen(t)
	}
	send(alice, bob, "hello bob", signal.TypePreKey)
	_, err = bob.s.PreKey(ctx, 5)
	assert(t, errors.Is(err, signal.ErrInvalidPreKeyID), "used one-time prekey not removed: %v", err)
	send(bob, alice, "hi alice", signal.TypeWhisper)
	send(alice, bob, "second", signal.TypeWhisper)
	send(alice, bob, "third", signal.TypeWhisper)
	send(bob, alice, "bye", signal.TypeWhisper)

	known, err := bob.s.TrustedIdentity(ctx, "alice")
	noErr(t, err)
	assert(t, bytes.Equal(known, alice.acct.Identity.Public.Bytes()), "bob does not trust alice's identity key")

	noErr(t, alice.s.DeleteAccountSessions(ctx, "bob"))
	rec, err := alice.s.LoadSession(ctx, bob.addr())
	assert(t, err == nil && rec == nil, "session with bob left after DeleteAccountSessions: %v", err)
}

// TestTxRollsBackSessionChanges checks that a decrypt inside a transaction
// that fails leaves the session as it was, so the message can be decrypted
// again.
func TestTxRollsBackSessionChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := newPeer(t, "alice"), newPeer(t, "bob")
	noErr(t, alice.cipher(t).ProcessPreKeyBundle(ctx, bob.addr(), bob.bundle(t)))
	typ, ct, err := alice.cipher(t).Encrypt(ctx, bob.addr(), []byte("once"))
	noErr(t, err)

	boom := errors.New("crash before the message was stored")
	err = bob.s.InTx(ctx, func(ctx context.Context) error {
		plain, err := bob.decrypt(t, ctx, alice, typ, ct)
		noErr(t, err)
		assert(t, plain == "once", "decrypted %q", plain)
		return boom
	})
	assert(t, errors.Is(err, boom), "InTx = %v", err)
	rec, err := bob.s.LoadSession(ctx, alice.addr())
	assert(t, err == nil && rec == nil, "session kept after rollback: %v", err)
	_, err = bob.s.PreKey(ctx, 5)
	noErr(t, err)
	got, err := bob.decrypt(t, ctx, alice, typ, ct)
	assert(t, err == nil && got == "once", "decrypt after rollback: %q %v", got, err)
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
	a, err := signal.GenerateIdentityKeyPair(nil)
	noErr(t, err)
	b, err := signal.GenerateIdentityKeyPair(nil)
	noErr(t, err)
	ap, bp := a.Private.Bytes(), b.Private.Bytes()
	got, err := store.IdentityKeyPair(a.Public.Bytes(), ap)
	assert(t, err == nil && got.Public.Equal(a.Public), "IdentityKeyPair = %v, %v", got, err)
	_, err = store.IdentityKeyPair(a.Public.Bytes(), bp)
	assert(t, err != nil, "mismatched key pair accepted")
	_, err = store.IdentityKeyPair(a.Public.Bytes()[1:], ap)
	assert(t, err != nil, "short public key accepted")
	_, err = store.IdentityKeyPair(a.Public.Bytes(), ap[:31])
	assert(t, err != nil, "short private key accepted")
}
