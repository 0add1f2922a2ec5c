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
	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/libsignal/keys/identity"
	"go.mau.fi/libsignal/keys/prekey"
	"go.mau.fi/libsignal/protocol"
	"go.mau.fi/libsignal/serialize"
	"go.mau.fi/libsignal/session"
	"go.mau.fi/libsignal/util/optional"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
)

// maxSendAttempts bounds the repairs of one send after 409 and 410 answers.
const maxSendAttempts = 5

// messenger encrypts and decrypts with libsignal sessions kept in the
// store, and repairs sessions from the server's answers.
type messenger struct {
	st   *store.Store
	cl   *client.Client
	me   *store.Account
	ser  *serialize.Serializer
	warn io.Writer // identity changes and other warnings

	// mu serializes session changes: chat encrypts and decrypts from two
	// goroutines, and libsignal loads, changes and stores a session in
	// steps that must not interleave.
	mu sync.Mutex
}

func newMessenger(st *store.Store, cl *client.Client, me *store.Account, warn io.Writer) *messenger {
	return &messenger{st: st, cl: cl, me: me, ser: st.Serializer(), warn: warn}
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
	if known, err := m.st.Identity(ctx, account); err != nil || known != nil {
		return err
	}
	key, err := m.st.Identity(ctx, old)
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

// sendMessage sends a message people read (text, location, media) to
// every device of dest and every other device of this account, and keeps
// it in the history.
func (m *messenger) sendMessage(ctx context.Context, dest string, c *content, via sender) (*api.SendResult, error) {
	c.SentAt = time.Now().UnixMilli()
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

// keepSent records a sent message and the accounts it went to; a failure
// is a warning, since the message was sent.
func (m *messenger) keepSent(ctx context.Context, res *api.SendResult, peer string, c *content, to []string) {
	err := m.st.InTx(ctx, func(ctx context.Context) error {
		_, err := m.st.AddMessage(ctx, &store.Message{
			EnvelopeID: res.ID, Direction: store.Outgoing,
			FromAccount: m.me.AccountID, FromDevice: m.me.DeviceID, PeerAccount: peer, Group: c.Group,
			Kind: c.Kind, Body: c.summary(), SentAt: c.SentAt, ServerTimestamp: res.ServerTimestamp,
		})
		if err != nil {
			return err
		}
		return m.st.AddRecipients(ctx, res.ID, to, res.ServerTimestamp)
	})
	if err != nil {
		fmt.Fprintf(m.warn, "hush: warning: sent, but not kept in the history: %s\n", oneLine(err.Error()))
	}
}

// send1to1 encrypts c for every device of dest and every other device of
// this account, sends it with via, and repairs sessions on 409 and 410 and
// tries again. It returns the devices the send went to.
func (m *messenger) send1to1(ctx context.Context, dest string, c *content, ephemeral bool, via sender) (*api.SendResult, []store.Device, error) {
	for attempt := 1; ; attempt++ {
		msgs, err := m.encryptAll(ctx, dest, c)
		if err != nil {
			return nil, nil, err
		}
		if len(msgs) == 0 {
			return nil, nil, errors.New("no device to send to: this account has no other device")
		}
		res, err := via.send(ctx, &api.Send{Destination: dest, Ephemeral: ephemeral, Messages: msgs, Urgent: urgency(c)})
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

// encryptAll encrypts c for every device of dest this device has a session
// with (fetching bundles of all of dest's devices when it has none) and a
// sync copy for each of this account's other devices it has a session with.
func (m *messenger) encryptAll(ctx context.Context, dest string, c *content) ([]api.OutgoingMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var msgs []api.OutgoingMessage
	err := m.st.InTx(ctx, func(ctx context.Context) error {
		msgs = msgs[:0]
		self := m.me.AccountID
		if dest != self {
			devs, err := m.st.GetSubDeviceSessions(ctx, dest)
			if err != nil {
				return err
			}
			if len(devs) == 0 {
				if err := m.fetchBundlesLocked(ctx, dest, client.AllDevices); err != nil {
					return err
				}
				if devs, err = m.st.GetSubDeviceSessions(ctx, dest); err != nil {
					return err
				}
			}
			plain, err := c.encode()
			if err != nil {
				return err
			}
			for _, d := range devs {
				om, err := m.encryptLocked(ctx, dest, d, plain)
				if err != nil {
					return err
				}
				msgs = append(msgs, om)
			}
		}
		sync := *c
		sync.SyncTo = dest
		plain, err := sync.encode()
		if err != nil {
			return err
		}
		own, err := m.st.GetSubDeviceSessions(ctx, self)
		if err != nil {
			return err
		}
		if dest == self && len(own) == 0 {
			// A note to self names only this account's other devices, and
			// the server refuses an empty send rather than listing them.
			if err := m.fetchBundlesLocked(ctx, self, client.AllDevices); err != nil {
				return err
			}
			if own, err = m.st.GetSubDeviceSessions(ctx, self); err != nil {
				return err
			}
		}
		for _, d := range own {
			if d == m.me.DeviceID {
				continue
			}
			om, err := m.encryptLocked(ctx, self, d, plain)
			if err != nil {
				return err
			}
			msgs = append(msgs, om)
		}
		return nil
	})
	return msgs, err
}

// encryptLocked encrypts plain with the session with acct's device dev.
func (m *messenger) encryptLocked(ctx context.Context, acct string, dev uint32, plain []byte) (api.OutgoingMessage, error) {
	addr := protocol.NewSignalAddress(acct, dev)
	cipher := session.NewCipher(session.NewBuilderFromSignal(m.st, addr, m.ser), addr)
	ct, err := cipher.Encrypt(ctx, plain)
	if err != nil {
		return api.OutgoingMessage{}, fmt.Errorf("encrypt for %s device %d: %w", m.display(ctx, acct), dev, err)
	}
	rec, err := m.st.LoadSession(ctx, addr)
	if err != nil {
		return api.OutgoingMessage{}, err
	}
	return api.OutgoingMessage{
		AccountID:      acct,
		DeviceID:       dev,
		RegistrationID: rec.SessionState().RemoteRegistrationID(),
		Type:           int(ct.Type()),
		Content:        ct.Serialize(),
	}, nil
}

// repairMismatched drops the sessions of devices that no longer exist and
// starts sessions with devices this device did not know.
func (m *messenger) repairMismatched(ctx context.Context, list []api.MismatchedDevices) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mm := range list {
		for _, d := range mm.Extra {
			if err := m.st.DeleteSession(ctx, protocol.NewSignalAddress(mm.AccountID, d)); err != nil {
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
}

// repairStale replaces the sessions of re-registered devices.
func (m *messenger) repairStale(ctx context.Context, list []api.StaleDevices) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, st := range list {
		for _, d := range st.Stale {
			if err := m.st.DeleteSession(ctx, protocol.NewSignalAddress(st.AccountID, d)); err != nil {
				return err
			}
			if err := m.fetchBundlesLocked(ctx, st.AccountID, d); err != nil && !client.IsCode(err, api.CodeNotFound) {
				return err
			}
		}
	}
	return nil
}

// fetchBundlesLocked claims the prekey bundles of acct's device dev (or
// all its devices) and starts a session with each, after checking the
// identity key (trust on first use, warning on change) and the signature
// of every PQ prekey.
func (m *messenger) fetchBundlesLocked(ctx context.Context, acct string, dev uint32) error {
	b, err := m.cl.Bundle(ctx, acct, dev)
	if err != nil {
		return fmt.Errorf("fetch keys of %s: %w", m.display(ctx, acct), err)
	}
	if b.AccountID != "" && b.AccountID != acct {
		return fmt.Errorf("fetch keys of %s: the server answered for another account", m.display(ctx, acct))
	}
	ik, err := decodeECKey("identity key of "+acct, b.IdentityKey)
	if err != nil {
		return err
	}
	if err := m.checkIdentityLocked(ctx, acct, b.IdentityKey); err != nil {
		return err
	}
	for i := range b.Devices {
		d := &b.Devices[i]
		if acct == m.me.AccountID && d.DeviceID == m.me.DeviceID {
			continue // never a session with ourselves
		}
		if err := verifyPQPreKey(ik, &d.PQPreKey); err != nil {
			return fmt.Errorf("keys of %s device %d: %w", m.display(ctx, acct), d.DeviceID, err)
		}
		bundle, err := libsignalBundle(ik, d)
		if err != nil {
			return fmt.Errorf("keys of %s device %d: %w", m.display(ctx, acct), d.DeviceID, err)
		}
		addr := protocol.NewSignalAddress(acct, d.DeviceID)
		if err := session.NewBuilderFromSignal(m.st, addr, m.ser).ProcessBundle(ctx, bundle); err != nil {
			return fmt.Errorf("start session with %s device %d: %w", m.display(ctx, acct), d.DeviceID, err)
		}
	}
	return nil
}

// libsignalBundle converts a device's bundle for session.Builder; ik is
// the account's identity key.
func libsignalBundle(ik ecc.ECPublicKeyable, d *api.DeviceBundle) (*prekey.Bundle, error) {
	spk, err := decodeECKey("signed prekey", d.SignedPreKey.PublicKey)
	if err != nil {
		return nil, err
	}
	if len(d.SignedPreKey.Signature) != signatureSize {
		return nil, fmt.Errorf("signed prekey signature is not %d bytes", signatureSize)
	}
	preID := optional.NewEmptyUint32()
	var pre ecc.ECPublicKeyable
	if d.PreKey != nil {
		if d.PreKey.KeyID == 0 {
			return nil, errors.New("one-time prekey has id 0")
		}
		if pre, err = decodeECKey("one-time prekey", d.PreKey.PublicKey); err != nil {
			return nil, err
		}
		preID = optional.NewOptionalUint32(d.PreKey.KeyID)
	}
	return prekey.NewBundle(d.RegistrationID, d.DeviceID, preID, d.SignedPreKey.KeyID,
		pre, spk, [signatureSize]byte(d.SignedPreKey.Signature), identity.NewKey(ik)), nil
}

// checkIdentityLocked compares an account's identity key as just seen with
// the trusted one. The first key seen is trusted. A changed key is
// announced with the new safety number, the account's old sessions are
// dropped, and the new key is trusted. This account's own key must never
// change.
func (m *messenger) checkIdentityLocked(ctx context.Context, acct string, key []byte) error {
	if acct == m.me.AccountID {
		if !bytes.Equal(key, m.me.Identity.PublicKey().Serialize()) {
			return errors.New("the server holds another identity key for this very account: was the number registered again elsewhere?")
		}
		return nil
	}
	known, err := m.st.Identity(ctx, acct)
	if err != nil {
		return err
	}
	if known == nil || bytes.Equal(known, key) {
		if known == nil {
			return m.st.SetIdentity(ctx, acct, key)
		}
		return nil
	}
	sn := safetyNumber(m.me.AccountID, m.me.Identity.PublicKey().Serialize(), acct, key)
	fmt.Fprintf(m.warn, "hush: identity key of %s changed; safety number is now %s\n", m.display(ctx, acct), groupDigits(sn))
	if err := m.st.DeleteAccountSessions(ctx, acct); err != nil {
		return err
	}
	return m.st.SetIdentity(ctx, acct, key)
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

// decryptError is an envelope that could not be decrypted or whose content
// is not valid: a problem of that envelope, not of this device's store.
type decryptError struct{ err error }

func (e *decryptError) Error() string { return e.err.Error() }
func (e *decryptError) Unwrap() error { return e.err }

// errDuplicate marks an envelope whose message the history holds already.
var errDuplicate = errors.New("duplicate envelope")

// receive decrypts an envelope and acts on it in one transaction: either
// the session advanced and the message is recorded (in the history, or as
// a receipt, a sender key, a group change), or neither. A message already
// in the history is errDuplicate.
func (m *messenger) receive(ctx context.Context, env *wire.Envelope) (*received, error) {
	if env.Type == wire.EnvelopeGroupChange {
		return m.receiveGroupChange(ctx, env)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var r *received
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
		c, err := m.open(ctx, env)
		if err != nil {
			return &decryptError{err}
		}
		r = &received{env: env, content: c}
		return m.keepReceivedLocked(ctx, env, c)
	})
	return r, err
}

// open decrypts an envelope and checks its content.
func (m *messenger) open(ctx context.Context, env *wire.Envelope) (*content, error) {
	plain, err := m.decryptLocked(ctx, env)
	if err != nil {
		return nil, err
	}
	c, err := decodeContent(plain)
	clear(plain)
	if err != nil {
		return nil, err
	}
	if err := checkGroup(env, c); err != nil {
		return nil, err
	}
	if env.SourceAccount != m.me.AccountID {
		c.SyncTo = "" // only this account's devices send sync copies
	}
	return c, nil
}

// checkGroup checks that a message's encrypted group id matches the
// envelope's: the server must not move a message into another group, out
// of one, or into one.
func checkGroup(env *wire.Envelope, c *content) error {
	switch {
	case env.Group != "" && c.Group != env.Group:
		return errors.New("the message names another group than its envelope")
	case env.Group != "" && (c.Kind == kindReceipt || c.Kind == kindSenderKey):
		return fmt.Errorf("a %s message in a group send", c.Kind)
	case env.Group == "" && c.Group != "" && c.Kind != kindSenderKey:
		return errors.New("a group message outside its group")
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
func (m *messenger) decryptLocked(ctx context.Context, env *wire.Envelope) (plain []byte, err error) {
	if env.SourceAccount == m.me.AccountID && env.SourceDevice == m.me.DeviceID {
		return nil, errors.New("envelope claims to come from this very device")
	}
	if env.SourceAccount == "" {
		return nil, errors.New("envelope without a sender")
	}
	// libsignal's parsers are not hardened against hostile input; a
	// malformed envelope must fail, not end the process.
	defer func() {
		if p := recover(); p != nil {
			plain, err = nil, fmt.Errorf("malformed ciphertext (%v)", p)
		}
	}()
	addr := protocol.NewSignalAddress(env.SourceAccount, env.SourceDevice)
	cipher := session.NewCipher(session.NewBuilderFromSignal(m.st, addr, m.ser), addr)
	switch env.Type {
	case protocol.PREKEY_TYPE:
		msg, err := protocol.NewPreKeySignalMessageFromBytes(env.Content, m.ser.PreKeySignalMessage, m.ser.SignalMessage)
		if err != nil {
			return nil, fmt.Errorf("parse prekey message: %w", err)
		}
		if err := m.checkIdentityLocked(ctx, env.SourceAccount, msg.IdentityKey().Serialize()); err != nil {
			return nil, err
		}
		return cipher.DecryptMessage(ctx, msg)
	case protocol.WHISPER_TYPE:
		msg, err := protocol.NewSignalMessageFromBytes(env.Content, m.ser.SignalMessage)
		if err != nil {
			return nil, fmt.Errorf("parse message: %w", err)
		}
		return cipher.Decrypt(ctx, msg)
	case protocol.SENDERKEY_TYPE:
		return m.groupDecryptLocked(ctx, env, addr)
	}
	return nil, fmt.Errorf("unsupported ciphertext type %d", env.Type)
}
