package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/signal"
)

// A message that does not decrypt is never dropped in silence. Its
// recipient sends the sender a DecryptionErrorMessage (libsignal's
// format) in a PlaintextContent, envelope type 8, unencrypted: it names
// the failed message by its envelope's server timestamp (which both ends
// know; Hush envelopes carry no sender timestamp), the device that sent
// it, and for a 1:1 message the ratchet key it was sent with. The sender
// archives the session that key belongs to, so that its next message to
// that device starts a new one from a fresh bundle, and sends the
// message again if it still keeps it (store.SentKeep): 1:1 on the new
// session, or, for a group message, to the group after handing that
// device its sender key anew. Receivers drop the copies they have by the
// message's own timestamp.

// sendDecryptionError asks the sender of env, which did not decrypt, to
// send it again.
func (m *messenger) sendDecryptionError(ctx context.Context, env *wire.Envelope, via sender) error {
	if env.SourceAccount == "" || env.Type == int(signal.TypePlaintext) || env.ServerTimestamp <= 0 ||
		env.SourceAccount == m.me.AccountID && env.SourceDevice == m.me.DeviceID {
		return nil // nobody to ask, or nothing to ask for
	}
	ts := uint64(env.ServerTimestamp)
	dem, err := signal.DecryptionErrorForOriginal(env.Content, signal.CiphertextType(env.Type), ts, env.SourceDevice)
	if err != nil {
		// Not even parsable: the sender gets no ratchet key and keeps its
		// session, but still sends the message again.
		dem = signal.NewDecryptionErrorMessage(nil, ts, env.SourceDevice)
	}
	pc := signal.NewPlaintextContent(dem).Bytes()
	seal := func(ctx context.Context, acct string, dev uint32, _ []byte) (api.OutgoingMessage, error) {
		reg, err := m.registrationLocked(ctx, address(acct, dev))
		if err != nil {
			return api.OutgoingMessage{}, err
		}
		return api.OutgoingMessage{AccountID: acct, DeviceID: dev, RegistrationID: reg, Type: int(signal.TypePlaintext), Content: pc}, nil
	}
	if _, _, err := m.sendTo(ctx, env.SourceAccount, pc, pc, false, nil, seal, via); err != nil {
		return fmt.Errorf("ask %s to send message %s again: %w", m.display(ctx, env.SourceAccount), env.ID, err)
	}
	return nil
}

// receivePlaintext takes a PlaintextContent: a DecryptionErrorMessage
// about a message this device sent. It archives the session the failed
// message went on, or forgets that the device has this device's sender
// key, and sends the message again when it is still kept. A decryption
// error about another device's message (every device of the account gets
// it) is dropped.
func (m *messenger) receivePlaintext(ctx context.Context, env *wire.Envelope) error {
	if env.SourceAccount == "" || env.SourceAccount == m.me.AccountID && env.SourceDevice == m.me.DeviceID {
		return &contentError{errors.New("a decryption error from no device, or from this very one")}
	}
	pc, err := signal.ParsePlaintextContent(env.Content)
	if err != nil {
		return &contentError{err}
	}
	dem, err := pc.DecryptionErrorMessage()
	if err != nil {
		return &contentError{err}
	}
	if dem.DeviceID != m.me.DeviceID || dem.Timestamp > 1<<62 {
		return nil
	}
	from := address(env.SourceAccount, env.SourceDevice)
	var sent *store.SentPlaintext
	m.mu.Lock()
	err = m.st.InTx(ctx, func(ctx context.Context) error {
		var err error
		sent, err = m.st.FindSent(ctx, int64(dem.Timestamp), from.Name, from.Name == m.me.AccountID)
		if err != nil {
			return err
		}
		if dem.RatchetKey != nil {
			rec, err := m.st.LoadSession(ctx, from)
			if err != nil || rec == nil || !rec.CurrentRatchetKeyMatches(*dem.RatchetKey) {
				return err
			}
			return m.st.ArchiveSession(ctx, from)
		}
		if sent != nil && sent.Group != "" {
			return m.st.ForgetSenderKeysSent(ctx, sent.Group, from.Name, from.DeviceID)
		}
		return nil
	})
	m.mu.Unlock()
	if err != nil {
		return err
	}
	fmt.Fprintf(m.warn, "hush: %s (device %d) could not decrypt a message sent at %s%s\n",
		m.display(ctx, from.Name), from.DeviceID, formatTime(int64(dem.Timestamp)), map[bool]string{true: "; sending it again", false: ""}[sent != nil])
	if sent == nil {
		return nil
	}
	if err := m.resend(ctx, sent); err != nil && ctx.Err() == nil {
		fmt.Fprintf(m.warn, "hush: warning: %s\n", oneLine(err.Error()))
	}
	return ctx.Err()
}

// resend sends a kept message again, with its own timestamp, to the
// account or group it went to; it is not kept again, so it is sent again
// at most once per request.
func (m *messenger) resend(ctx context.Context, sent *store.SentPlaintext) error {
	c, err := decodeContent(sent.Content)
	if err != nil {
		return fmt.Errorf("send again: %w", err)
	}
	if sent.Group != "" {
		_, err = m.sendGroupContent(ctx, sent.Group, c, false, m.rest())
	} else {
		_, _, err = m.send1to1(ctx, sent.Destination, c, false, m.rest())
	}
	if err != nil {
		return fmt.Errorf("send again: %w", err)
	}
	return nil
}
