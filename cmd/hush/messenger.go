package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
	"github.com/hushmsg/hush/signal"
)

// maxSendAttempts bounds the repairs of one send after 409 and 410 answers.
const maxSendAttempts = 5

// messenger encrypts and decrypts with package signal's sessions kept in
// the store, and repairs sessions from the server's answers.
type messenger struct {
	st     *store.Store
	cl     *client.Client
	me     *store.Account
	cipher *signal.Cipher
	warn   io.Writer // identity changes and other warnings

	// mu serializes session changes: chat encrypts and decrypts from two
	// goroutines, and a transaction of the store must hold every load,
	// change and store of records that belong together.
	mu sync.Mutex
}

func newMessenger(st *store.Store, cl *client.Client, me *store.Account, warn io.Writer) (*messenger, error) {
	c, err := signal.NewCipher(address(me.AccountID, me.DeviceID), st.SignalConfig())
	if err != nil {
		return nil, fmt.Errorf("this device (%s): %w", me, err)
	}
	return &messenger{st: st, cl: cl, me: me, cipher: c, warn: warn}, nil
}

// address names a device of an account for package signal.
func address(acct string, dev uint32) signal.ProtocolAddress {
	return signal.ProtocolAddress{Name: acct, DeviceID: dev}
}

// sender delivers sends: over REST, or over the message socket when one
// is connected.
type sender interface {
	send(ctx context.Context, s *api.Send) (*api.SendResult, error)
	groupSend(ctx context.Context, groupID string, g *api.GroupSend) (*api.SendResult, error)
}

// restSender sends over REST.
type restSender struct{ cl *client.Client }

func (r restSender) send(ctx context.Context, s *api.Send) (*api.SendResult, error) {
	return r.cl.Send(ctx, s)
}

func (r restSender) groupSend(ctx context.Context, groupID string, g *api.GroupSend) (*api.SendResult, error) {
	return r.cl.GroupSend(ctx, groupID, g)
}

// rest returns the sender that uses REST.
func (m *messenger) rest() sender { return restSender{m.cl} }

// resolve turns TO (an E.164 number or an account id) into an account id,
// asking the directory for numbers and remembering the answer.
func (m *messenger) resolve(ctx context.Context, to string) (string, error) {
	if strings.HasPrefix(to, "+") {
		if !isE164(to) {
			return "", usageErrorf("%q is not a phone number in E.164 form (+15551234567)", to)
		}
		d, err := m.cl.Lookup(ctx, to)
		if client.IsCode(err, api.CodeNotFound) {
			return "", fmt.Errorf("%s is not registered with Hush", to)
		}
		if err != nil {
			return "", fmt.Errorf("look up %s: %w", to, err)
		}
		if err := m.carryIdentity(ctx, to, d.AccountID); err != nil {
			return "", err
		}
		if err := m.st.SaveContact(ctx, to, d.AccountID); err != nil {
			return "", err
		}
		return d.AccountID, nil
	}
	u, err := uuid.Parse(to)
	if err != nil {
		return "", usageErrorf("%q is neither a phone number (+15551234567) nor an account id", to)
	}
	return u.String(), nil
}

// carryIdentity lets the identity key trusted for number's old account
// stand for its new one: a number registered again without its
// registration lock is a new account, and its new identity key is then
// announced as a change (checkIdentityLocked) instead of being trusted on
// first use.
func (m *messenger) carryIdentity(ctx context.Context, number, account string) error {
	old, err := m.st.ContactAccount(ctx, number)
	if err != nil || old == "" || old == account {
		return err
	}
	if known, err := m.st.TrustedIdentity(ctx, account); err != nil || known != nil {
		return err
	}
	key, err := m.st.TrustedIdentity(ctx, old)
	if err != nil || key == nil {
		return err
	}
	return m.st.SetIdentity(ctx, account, key)
}

// isE164 checks the shape of an E.164 number; the server checks the rest.
func isE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// display names an account for people: its number when known.
func (m *messenger) display(ctx context.Context, accountID string) string {
	if n, err := m.st.ContactNumber(ctx, accountID); err == nil && n != "" {
		return n
	}
	return accountID
}

// sendText sends a text message to dest; see sendMessage.
func (m *messenger) sendText(ctx context.Context, dest, text string, via sender) (*api.SendResult, error) {
	return m.sendMessage(ctx, dest, &content{Kind: kindText, Body: text}, via)
}

// stamp gives c this device's next message timestamp, unless it has one
// (a message sent again keeps its own).
func (m *messenger) stamp(ctx context.Context, c *content) error {
	if c.SentAt != 0 {
		return nil
	}
	ts, err := m.st.NextTimestamp(ctx, time.Now().UnixMilli())
	c.SentAt = ts
	return err
}

// sendMessage sends a message people read (text, location, media) to
// every device of dest and every other device of this account, and keeps
// it in the history and, for a while, for a resend.
func (m *messenger) sendMessage(ctx context.Context, dest string, c *content, via sender) (*api.SendResult, error) {
	if err := m.stamp(ctx, c); err != nil {
		return nil, err
	}
	res, _, err := m.send1to1(ctx, dest, c, false, via)
	if err != nil {
		return nil, err
	}
	var to []string
	if dest != m.me.AccountID {
		to = []string{dest}
	}
	m.keepSent(ctx, res, dest, c, to)
	return res, nil
}

// keepSent records a sent message and the accounts it went to, and keeps
// its plaintext for resends; a failure is a warning, since the message
// was sent.
func (m *messenger) keepSent(ctx context.Context, res *api.SendResult, peer string, c *content, to []string) {
	plain, err := c.encode()
	if err == nil {
		err = m.st.InTx(ctx, func(ctx context.Context) error {
			_, err := m.st.AddMessage(ctx, &store.Message{
				EnvelopeID: res.ID, Direction: store.Outgoing,
				FromAccount: m.me.AccountID, FromDevice: m.me.DeviceID, PeerAccount: peer, Group: c.Group,
				Kind: c.Kind, Body: c.summary(), SentAt: c.SentAt, ServerTimestamp: res.ServerTimestamp,
			})
			if err != nil {
				return err
			}
			if err := m.st.KeepSent(ctx, &store.SentPlaintext{ServerTimestamp: res.ServerTimestamp, Destination: peer, Group: c.Group, Content: plain}); err != nil {
				return err
			}
			return m.st.AddRecipients(ctx, res.ID, to, res.ServerTimestamp)
		})
		clear(plain)
	}
	if err != nil {
		fmt.Fprintf(m.warn, "hush: warning: sent, but not kept in the history: %s\n", oneLine(err.Error()))
	}
}

// sealFunc turns a plaintext into the message for one device.
type sealFunc func(ctx context.Context, acct string, dev uint32, plain []byte) (api.OutgoingMessage, error)

// send1to1 encrypts c for every device of dest and every other device of
// this account, sends it with via, and repairs sessions on 409 and 410 and
// tries again. It returns the devices the send went to.
func (m *messenger) send1to1(ctx context.Context, dest string, c *content, ephemeral bool, via sender) (*api.SendResult, []store.Device, error) {
	if err := m.stamp(ctx, c); err != nil {
		return nil, nil, err
	}
	plain, err := c.encode()
	if err != nil {
		return nil, nil, err
	}
	defer clear(plain)
	var syncPlain []byte
	if sync := *c; readable(c.Kind) && dest != m.me.AccountID {
		// This account's other devices get a copy that names dest.
		sync.SyncTo = dest
		if syncPlain, err = sync.encode(); err != nil {
			return nil, nil, err
		}
		defer clear(syncPlain)
	} else {
		syncPlain = plain
	}
	return m.sendTo(ctx, dest, plain, syncPlain, ephemeral, urgency(c), m.encryptLocked, via)
}

// sendTo sends plain to every device of dest and syncPlain to every other
// device of this account, each sealed by seal, and repairs sessions on 409
// and 410 and tries again.
func (m *messenger) sendTo(ctx context.Context, dest string, plain, syncPlain []byte, ephemeral bool, urgent *bool, seal sealFunc, via sender) (*api.SendResult, []store.Device, error) {
	for attempt := 1; ; attempt++ {
		msgs, err := m.sealAll(ctx, dest, plain, syncPlain, seal)
		if err != nil {
			return nil, nil, err
		}
		if len(msgs) == 0 {
			return nil, nil, errors.New("no device to send to: this account has no other device")
		}
		res, err := via.send(ctx, &api.Send{Destination: dest, Ephemeral: ephemeral, Messages: msgs, Urgent: urgent})
		if err == nil {
			devs := make([]store.Device, len(msgs))
			for i, om := range msgs {
				devs[i] = store.Device{AccountID: om.AccountID, DeviceID: om.DeviceID}
			}
			return res, devs, nil
		}
		var ae *client.APIError
		if !errors.As(err, &ae) || attempt == maxSendAttempts {
			return nil, nil, err
		}
		switch ae.Body.Code {
		case api.CodeMismatchedDevices:
			err = m.repairMismatched(ctx, ae.Body.Mismatched)
		case api.CodeStaleDevices:
			err = m.repairStale(ctx, ae.Body.Stale)
		case api.CodeNotFound:
			return nil, nil, fmt.Errorf("%s is not registered with Hush (any more)", m.display(ctx, dest))
		default:
			return nil, nil, err
		}
		if err != nil {
			return nil, nil, err
		}
	}
}

// sealAll seals plain for every device of dest this device has a session
// with (fetching bundles of all of dest's devices when it has none) and
// syncPlain for each of this account's other devices it has a session
// with.
func (m *messenger) sealAll(ctx context.Context, dest string, plain, syncPlain []byte, seal sealFunc) ([]api.OutgoingMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var msgs []api.OutgoingMessage
	err := m.st.InTx(ctx, func(ctx context.Context) error {
		msgs = msgs[:0]
		self := m.me.AccountID
		if dest != self {
			devs, err := m.sendableLocked(ctx, dest, true)
			if err != nil {
				return err
			}
			for _, d := range devs {
				om, err := seal(ctx, dest, d, plain)
				if err != nil {
					return err
				}
				msgs = append(msgs, om)
			}
		}
		// A note to self names only this account's other devices, and the
		// server refuses an empty send rather than listing them.
		own, err := m.sendableLocked(ctx, self, dest == self)
		if err != nil {
			return err
		}
		for _, d := range own {
			om, err := seal(ctx, self, d, syncPlain)
			if err != nil {
				return err
			}
			msgs = append(msgs, om)
		}
		return nil
	})
	return msgs, err
}

// sendableLocked returns the devices of acct (never this device) with a
// session usable for sending. A device whose session was archived (it is
// gone, or could not decrypt a message) is left out: the server's 409
// names it if it is still there, and the repair starts a new session
// from a fresh bundle. With fetchAll, an account without any session
// gets sessions with all its devices.
func (m *messenger) sendableLocked(ctx context.Context, acct string, fetchAll bool) ([]uint32, error) {
	devs, err := m.st.SessionDevices(ctx, acct)
	if err != nil {
		return nil, err
	}
	if len(devs) == 0 && fetchAll {
		if err := m.fetchBundlesLocked(ctx, acct, client.AllDevices); err != nil {
			return nil, err
		}
		if devs, err = m.st.SessionDevices(ctx, acct); err != nil {
			return nil, err
		}
	}
	var out []uint32
	now := time.Now()
	for _, d := range devs {
		if acct == m.me.AccountID && d == m.me.DeviceID {
			continue
		}
		rec, err := m.st.LoadSession(ctx, address(acct, d))
		if err != nil {
			return nil, err
		}
		if rec.HasCurrentState(now) {
			out = append(out, d)
		}
	}
	return out, nil
}

// encryptLocked encrypts plain with the session with acct's device dev.
func (m *messenger) encryptLocked(ctx context.Context, acct string, dev uint32, plain []byte) (api.OutgoingMessage, error) {
	addr := address(acct, dev)
	typ, ct, err := m.cipher.Encrypt(ctx, addr, plain)
	if err != nil {
		return api.OutgoingMessage{}, fmt.Errorf("encrypt for %s device %d: %w", m.display(ctx, acct), dev, err)
	}
	reg, err := m.registrationLocked(ctx, addr)
	if err != nil {
		return api.OutgoingMessage{}, err
	}
	return api.OutgoingMessage{AccountID: acct, DeviceID: dev, RegistrationID: reg, Type: int(typ), Content: ct}, nil
}

// registrationLocked returns the registration id of the device a session
// is with.
func (m *messenger) registrationLocked(ctx context.Context, addr signal.ProtocolAddress) (uint32, error) {
	rec, err := m.st.LoadSession(ctx, addr)
	if err != nil {
		return 0, err
	}
	if rec == nil {
		return 0, fmt.Errorf("%w with %s", signal.ErrNoSession, addr)
	}
	return rec.RemoteRegistrationID()
}

// repairMismatched archives the sessions of devices that no longer exist
// (what they sent before still decrypts) and starts sessions with devices
// this device did not know or has archived sessions with.
func (m *messenger) repairMismatched(ctx context.Context, list []api.MismatchedDevices) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.InTx(ctx, func(ctx context.Context) error {
		for _, mm := range list {
			for _, d := range mm.Extra {
				if err := m.st.ArchiveSession(ctx, address(mm.AccountID, d)); err != nil {
					return err
				}
			}
			for _, d := range mm.Missing {
				if err := m.fetchBundlesLocked(ctx, mm.AccountID, d); err != nil && !client.IsCode(err, api.CodeNotFound) {
					return err
				}
			}
		}
		return nil
	})
}

// repairStale replaces the sessions of re-registered devices.
func (m *messenger) repairStale(ctx context.Context, list []api.StaleDevices) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.InTx(ctx, func(ctx context.Context) error {
		for _, st := range list {
			for _, d := range st.Stale {
				if err := m.st.DeleteSession(ctx, st.AccountID, d); err != nil {
					return err
				}
				if err := m.fetchBundlesLocked(ctx, st.AccountID, d); err != nil && !client.IsCode(err, api.CodeNotFound) {
					return err
				}
			}
		}
		return nil
	})
}

// fetchBundlesLocked claims the prekey bundles of acct's device dev (or
// all its devices) and starts a session with each (PQXDH), after checking
// the identity key (trust on first use, warning on change); package
// signal checks the signatures of the signed and Kyber prekeys.
func (m *messenger) fetchBundlesLocked(ctx context.Context, acct string, dev uint32) error {
	b, err := m.cl.Bundle(ctx, acct, dev)
	if err != nil {
		return fmt.Errorf("fetch keys of %s: %w", m.display(ctx, acct), err)
	}
	if b.AccountID != "" && b.AccountID != acct {
		return fmt.Errorf("fetch keys of %s: the server answered for another account", m.display(ctx, acct))
	}
	ik, err := signal.ParseIdentityKey(b.IdentityKey)
	if err != nil {
		return fmt.Errorf("identity key of %s: %w", m.display(ctx, acct), err)
	}
	if err := m.checkIdentityLocked(ctx, acct, ik); err != nil {
		return err
	}
	for i := range b.Devices {
		d := &b.Devices[i]
		if acct == m.me.AccountID && d.DeviceID == m.me.DeviceID {
			continue // never a session with ourselves
		}
		bundle, err := preKeyBundle(ik, d)
		if err != nil {
			return fmt.Errorf("keys of %s device %d: %w", m.display(ctx, acct), d.DeviceID, err)
		}
		if err := m.cipher.ProcessPreKeyBundle(ctx, address(acct, d.DeviceID), bundle); err != nil {
			return fmt.Errorf("start session with %s device %d: %w", m.display(ctx, acct), d.DeviceID, err)
		}
	}
	return nil
}

// checkIdentityLocked compares an account's identity key as just seen with
// the trusted one. The first key seen is trusted. A changed key is
// announced with the new safety number (once the transaction it is part
// of commits), the account's old sessions are dropped, and the new key is
// trusted. This account's own key must never change.
func (m *messenger) checkIdentityLocked(ctx context.Context, acct string, key signal.IdentityKey) error {
	if acct == m.me.AccountID {
		if !key.Equal(m.me.Identity.Public) {
			return errors.New("the server holds another identity key for this very account: was the number registered again elsewhere?")
		}
		return nil
	}
	known, err := m.st.TrustedIdentity(ctx, acct)
	if err != nil {
		return err
	}
	if known == nil {
		return m.st.SetIdentity(ctx, acct, key.Bytes())
	}
	if bytes.Equal(known, key.Bytes()) {
		return nil
	}
	sn, err := safetyNumber(m.me.AccountID, m.me.Identity.Public, acct, key)
	if err != nil {
		return err
	}
	who := m.display(ctx, acct)
	m.st.AfterCommit(ctx, func() {
		fmt.Fprintf(m.warn, "hush: identity key of %s changed; safety number is now %s\n", who, groupDigits(sn))
	})
	if err := m.st.DeleteAccountSessions(ctx, acct); err != nil {
		return err
	}
	return m.st.SetIdentity(ctx, acct, key.Bytes())
}

// received is one decrypted envelope, or a server notice of a group
// change (change set, content of kind kindGroupChange).
type received struct {
	env     *wire.Envelope
	content *content
	change  *api.GroupChange
}

// group returns the group a received message belongs to, or "".
func (r *received) group() string { return r.content.Group }

// decryptError is an envelope that could not be decrypted: its sender is
// asked to send it again (a DecryptionErrorMessage), and nothing changed
// in this device's store.
type decryptError struct{ err error }

func (e *decryptError) Error() string { return e.err.Error() }
func (e *decryptError) Unwrap() error { return e.err }

// contentError is an envelope that decrypted (its session moved on) but
// whose content is not valid, or a notice this client cannot use: it is
// reported and dropped, since sending it again would not help.
type contentError struct{ err error }

func (e *contentError) Error() string { return e.err.Error() }
func (e *contentError) Unwrap() error { return e.err }

// errDuplicate marks an envelope whose message the history holds already.
var errDuplicate = errors.New("duplicate envelope")

// receive decrypts an envelope and acts on it in one transaction: either
// the session advanced and the message is recorded (in the history, or as
// a receipt, a sender key, a group change), or neither. A message already
// in the history is errDuplicate; one that does not decrypt is a
// *decryptError, one whose content is not valid a *contentError.
func (m *messenger) receive(ctx context.Context, env *wire.Envelope) (*received, error) {
	switch env.Type {
	case wire.EnvelopeGroupChange:
		return m.receiveGroupChange(ctx, env)
	case int(signal.TypePlaintext):
		return nil, m.receivePlaintext(ctx, env)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var (
		r     *received
		bad   error
		again bool
	)
	err := m.st.InTx(ctx, func(ctx context.Context) error {
		if !env.Ephemeral {
			dup, err := m.st.HasMessage(ctx, env.SourceAccount, env.SourceDevice, env.ID)
			if err != nil {
				return err
			}
			if dup {
				return errDuplicate
			}
		}
		plain, err := m.decryptLocked(ctx, env)
		if err != nil {
			return &decryptError{err}
		}
		c, err := m.checkContent(ctx, env, plain)
		clear(plain)
		if err != nil {
			bad = err // the session moved on all the same
			return nil
		}
		if readable(c.Kind) && !env.Ephemeral {
			// A message sent again, after this device or another one of
			// this account could not decrypt it, comes in a new envelope.
			dup, err := m.st.HasMessageAt(ctx, env.SourceAccount, env.SourceDevice, c.SentAt)
			if err != nil {
				return err
			}
			if dup {
				again = true // the session it came on stays
				return nil
			}
		}
		r = &received{env: env, content: c}
		return m.keepReceivedLocked(ctx, env, c)
	})
	switch {
	case err != nil:
		return nil, err
	case bad != nil:
		return nil, &contentError{bad}
	case again:
		return nil, errDuplicate
	}
	return r, nil
}

// checkContent decodes a decrypted plaintext and checks it against its
// envelope.
func (m *messenger) checkContent(ctx context.Context, env *wire.Envelope, plain []byte) (*content, error) {
	c, err := decodeContent(plain)
	if err != nil {
		return nil, err
	}
	if err := checkGroup(env, c); err != nil {
		return nil, err
	}
	if env.Type == int(signal.TypeSenderKey) {
		dist, err := senderKeyDistribution(env.Content)
		if err != nil {
			return nil, err
		}
		if err := m.bindSenderKeyLocked(ctx, address(env.SourceAccount, env.SourceDevice), dist, env.Group); err != nil {
			return nil, err
		}
	}
	if env.SourceAccount != m.me.AccountID && c.SyncTo != "" {
		return nil, errors.New("a sync copy from another account")
	}
	return c, nil
}

// checkGroup checks that a message's encrypted group id matches the
// envelope's: the server must not move a message into another group, out
// of one, or into one. Sender keys travel 1:1 and name no group.
func checkGroup(env *wire.Envelope, c *content) error {
	switch {
	case env.Group != "" && c.Group != env.Group:
		return errors.New("the message names another group than its envelope")
	case env.Group != "" && (c.Kind == kindReceipt || c.Kind == kindSenderKey):
		return fmt.Errorf("a %s message in a group send", c.Kind)
	case env.Group == "" && c.Group != "":
		return errors.New("a group message outside its group")
	case env.Group != "" && env.Type != int(signal.TypeSenderKey):
		return errors.New("a group message not encrypted with a sender key")
	}
	return nil
}

// keepReceivedLocked records what a decrypted message says: a sender key,
// a receipt, or a message for the history.
func (m *messenger) keepReceivedLocked(ctx context.Context, env *wire.Envelope, c *content) error {
	switch {
	case c.Kind == kindSenderKey:
		return m.processSenderKeyLocked(ctx, env, c)
	case c.Kind == kindReceipt:
		return m.recordReceiptLocked(ctx, env, c)
	case env.Ephemeral || !readable(c.Kind):
		return nil
	}
	peer := env.SourceAccount
	if c.SyncTo != "" {
		peer = c.SyncTo
	}
	if c.Group != "" {
		peer = ""
	}
	_, err := m.st.AddMessage(ctx, &store.Message{
		EnvelopeID: env.ID, Direction: store.Incoming,
		FromAccount: env.SourceAccount, FromDevice: env.SourceDevice, PeerAccount: peer, Group: c.Group,
		Kind: c.Kind, Body: c.summary(), SentAt: c.SentAt, ServerTimestamp: env.ServerTimestamp, SyncTo: c.SyncTo,
	})
	return err
}

// decryptLocked decrypts an envelope with the session with its sender, or
// with the sender's sender key of the envelope's group.
func (m *messenger) decryptLocked(ctx context.Context, env *wire.Envelope) ([]byte, error) {
	if env.SourceAccount == m.me.AccountID && env.SourceDevice == m.me.DeviceID {
		return nil, errors.New("envelope claims to come from this very device")
	}
	if env.SourceAccount == "" {
		return nil, errors.New("envelope without a sender")
	}
	if _, err := uuid.Parse(env.SourceAccount); err != nil {
		return nil, errors.New("envelope from a sender that is no account id")
	}
	addr := address(env.SourceAccount, env.SourceDevice)
	switch signal.CiphertextType(env.Type) {
	case signal.TypePreKey:
		msg, err := signal.ParsePreKeySignalMessage(env.Content)
		if err != nil {
			return nil, err
		}
		if err := m.checkIdentityLocked(ctx, env.SourceAccount, msg.IdentityKey); err != nil {
			return nil, err
		}
		return m.cipher.DecryptPreKey(ctx, addr, env.Content)
	case signal.TypeWhisper:
		return m.cipher.Decrypt(ctx, addr, env.Content)
	case signal.TypeSenderKey:
		return m.groupDecryptLocked(ctx, env, addr)
	}
	return nil, fmt.Errorf("unsupported ciphertext type %d", env.Type)
}
