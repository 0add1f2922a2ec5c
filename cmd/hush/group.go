package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
	"github.com/hushmsg/hush/signal"
)

// Group messages are Sender Key messages (ciphertext type 7): each device
// has its own sender key per group, named by a distribution id (a UUID)
// of its own choosing; it sends its SenderKeyDistributionMessage 1:1 (over
// the Double Ratchet sessions, Content.sender_key_distribution_message)
// to every member device that lacks the current one, then encrypts a
// group message once for all. As in libsignal apps, a distribution names
// no group: the receiver keeps it by sender and distribution id, and
// learns its group from the first group message on it (the envelope's
// group, checked against DataMessage.group); a distribution seen in one
// group is refused in another. When someone leaves or is removed, every
// remaining device discards its own sender key and takes a new
// distribution id, so that its next send creates and distributes a new
// key the leaver never gets.

// sendGroup sends c to every other member device of a group and every
// other device of this account; a message people read is kept in the
// history.
func (m *messenger) sendGroup(ctx context.Context, groupID string, c *content, ephemeral bool, via sender) (*api.SendResult, error) {
	c.Group = groupID
	if err := m.stamp(ctx, c); err != nil {
		return nil, err
	}
	g, res, err := m.sendGroupOnce(ctx, groupID, c, ephemeral, via)
	if err != nil {
		return nil, err
	}
	if !ephemeral && readable(c.Kind) {
		m.keepSent(ctx, res, "", c, otherMembers(g, m.me.AccountID))
	}
	return res, nil
}

// sendGroupContent sends c (stamped already) to a group; see
// sendGroupOnce.
func (m *messenger) sendGroupContent(ctx context.Context, groupID string, c *content, ephemeral bool, via sender) (*api.SendResult, error) {
	c.Group = groupID
	_, res, err := m.sendGroupOnce(ctx, groupID, c, ephemeral, via)
	return res, err
}

// sendGroupOnce sends c to a group, repairing sessions and redistributing
// the sender key on 409 and 410. It returns the group as the server had
// it.
func (m *messenger) sendGroupOnce(ctx context.Context, groupID string, c *content, ephemeral bool, via sender) (*api.Group, *api.SendResult, error) {
	g, err := m.refreshGroup(ctx, groupID)
	if err != nil {
		return nil, nil, err
	}
	for attempt := 1; ; attempt++ {
		res, err := m.groupSendOnce(ctx, g, c, ephemeral, via)
		if err == nil {
			return g, res, nil
		}
		var ae *client.APIError
		if errors.Is(err, errKeyChanged) && attempt < maxSendAttempts {
			continue
		}
		if !errors.As(err, &ae) || attempt == maxSendAttempts {
			return nil, nil, err
		}
		switch ae.Body.Code {
		case api.CodeMismatchedDevices:
			if g, err = m.refreshGroup(ctx, groupID); err == nil {
				err = m.repairGroupMismatched(ctx, g, ae.Body.Mismatched)
			}
		case api.CodeStaleDevices:
			err = m.repairGroupStale(ctx, groupID, ae.Body.Stale)
		case api.CodeNotFound, api.CodeForbidden:
			return nil, nil, fmt.Errorf("no group %s, or this account is not a member: %w", groupID, err)
		default:
			return nil, nil, err
		}
		if err != nil {
			return nil, nil, err
		}
	}
}

// errKeyChanged means this device's sender key changed (it was rotated)
// between its distribution and the encryption: distribute again.
var errKeyChanged = errors.New("sender key changed while sending")

// groupSendOnce makes sure every recipient device has this device's
// sender key, encrypts c once and sends it.
func (m *messenger) groupSendOnce(ctx context.Context, g *api.Group, c *content, ephemeral bool, via sender) (*api.SendResult, error) {
	recips, err := m.groupRecipients(ctx, g)
	if err != nil {
		return nil, err
	}
	keyID, err := m.distributeSenderKey(ctx, g.GroupID, recips, via)
	if err != nil {
		return nil, err
	}
	ct, err := m.groupEncrypt(ctx, g.GroupID, c, keyID)
	if err != nil {
		return nil, err
	}
	gs := &api.GroupSend{Type: int(signal.TypeSenderKey), Content: ct, Recipients: recips, Ephemeral: ephemeral, Urgent: urgency(c)}
	return via.groupSend(ctx, g.GroupID, gs)
}

// otherMembers lists a group's members but me.
func otherMembers(g *api.Group, me string) []string {
	var out []string
	for _, mem := range g.Members {
		if mem.AccountID != me {
			out = append(out, mem.AccountID)
		}
	}
	return out
}

// groupRecipients names every device of every other member this device
// has a session with (starting sessions with all devices of members it has
// none with) and this account's other devices it has a session with. The
// server's 409 names any device missing.
func (m *messenger) groupRecipients(ctx context.Context, g *api.Group) ([]api.GroupRecipient, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []api.GroupRecipient
	err := m.st.InTx(ctx, func(ctx context.Context) error {
		out = out[:0]
		for _, acct := range append(otherMembers(g, m.me.AccountID), m.me.AccountID) {
			r, err := m.recipientsOfLocked(ctx, acct)
			if err != nil {
				return err
			}
			out = append(out, r...)
		}
		return nil
	})
	if err == nil && len(out) == 0 {
		err = errors.New("nobody to send to: the group has no other member and this account no other device")
	}
	return out, err
}

// recipientsOfLocked names the devices of acct this device has sessions
// with; for another account without any it fetches the bundles first.
func (m *messenger) recipientsOfLocked(ctx context.Context, acct string) ([]api.GroupRecipient, error) {
	devs, err := m.sendableLocked(ctx, acct, acct != m.me.AccountID)
	if err != nil {
		return nil, err
	}
	var out []api.GroupRecipient
	for _, d := range devs {
		reg, err := m.registrationLocked(ctx, address(acct, d))
		if err != nil {
			return nil, err
		}
		out = append(out, api.GroupRecipient{AccountID: acct, DeviceID: d, RegistrationID: reg})
	}
	return out, nil
}

// distributeSenderKey sends this device's current sender key of a group,
// 1:1, to every account with a recipient device that lacks it (this
// account's other devices get it as sync copies, or by a note to self),
// and remembers which devices got it. It returns the key's id.
func (m *messenger) distributeSenderKey(ctx context.Context, groupID string, recips []api.GroupRecipient, via sender) (uint32, error) {
	dm, err := m.senderKey(ctx, groupID)
	if err != nil {
		return 0, err
	}
	sent, err := m.st.SenderKeysSent(ctx, groupID)
	if err != nil {
		return 0, err
	}
	keyID := dm.ChainID
	c := &content{Kind: kindSenderKey, SenderKey: dm.Bytes()}
	for _, acct := range lacking(recips, sent, keyID, m.me.AccountID) {
		if acct == m.me.AccountID && !slices.Contains(lacking(recips, sent, keyID, ""), acct) {
			continue // sync copies of the sends before covered this account's devices
		}
		_, devs, err := m.send1to1(ctx, acct, c, false, via)
		if err != nil {
			return 0, fmt.Errorf("send the group's key to %s: %w", m.display(ctx, acct), err)
		}
		for _, d := range devs {
			if err := m.st.MarkSenderKeySent(ctx, groupID, d, keyID); err != nil {
				return 0, err
			}
			sent[d] = keyID
		}
	}
	return keyID, nil
}

// lacking lists the accounts with a recipient device that has not been
// sent key keyID, in order, with last (when set and lacking) at the end.
func lacking(recips []api.GroupRecipient, sent map[store.Device]uint32, keyID uint32, last string) []string {
	var out []string
	hasLast := false
	for _, r := range recips {
		if id, ok := sent[store.Device{AccountID: r.AccountID, DeviceID: r.DeviceID}]; ok && id == keyID {
			continue
		}
		switch {
		case last != "" && r.AccountID == last:
			hasLast = true
		case !slices.Contains(out, r.AccountID):
			out = append(out, r.AccountID)
		}
	}
	if hasLast {
		out = append(out, last)
	}
	return out
}

// senderKey returns the distribution message of this device's sender key
// of a group, creating the key (and its distribution id) when there is
// none.
func (m *messenger) senderKey(ctx context.Context, groupID string) (*signal.SenderKeyDistributionMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var dm *signal.SenderKeyDistributionMessage
	err := m.st.InTx(ctx, func(ctx context.Context) error {
		var err error
		dm, _, err = m.ownSenderKeyLocked(ctx, groupID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sender key of group %s: %w", groupID, err)
	}
	return dm, nil
}

// ownSenderKeyLocked returns this device's distribution message of a
// group and its distribution id, creating both when needed.
func (m *messenger) ownSenderKeyLocked(ctx context.Context, groupID string) (*signal.SenderKeyDistributionMessage, uuid.UUID, error) {
	g, err := m.st.Group(ctx, groupID)
	if err != nil {
		return nil, uuid.Nil, err
	}
	if g == nil {
		g = &store.Group{ID: groupID}
	}
	dist, err := uuid.Parse(g.DistributionID)
	if err != nil {
		if dist, err = uuid.NewRandom(); err != nil {
			return nil, uuid.Nil, err
		}
		g.DistributionID = dist.String()
		if err := m.st.SaveGroup(ctx, g); err != nil {
			return nil, uuid.Nil, err
		}
	}
	dm, err := m.cipher.CreateSenderKeyDistribution(ctx, dist)
	if err != nil {
		return nil, uuid.Nil, err
	}
	if err := m.st.SetSenderKeyGroup(ctx, address(m.me.AccountID, m.me.DeviceID), dist, groupID); err != nil {
		return nil, uuid.Nil, err
	}
	return dm, dist, nil
}

// groupEncrypt encrypts c with this device's sender key of a group,
// which must still be key keyID (else errKeyChanged).
func (m *messenger) groupEncrypt(ctx context.Context, groupID string, c *content, keyID uint32) ([]byte, error) {
	plain, err := c.encode()
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []byte
	err = m.st.InTx(ctx, func(ctx context.Context) error {
		dm, dist, err := m.ownSenderKeyLocked(ctx, groupID)
		if err != nil {
			return err
		}
		if dm.ChainID != keyID {
			return errKeyChanged
		}
		if out, err = m.cipher.GroupEncrypt(ctx, dist, plain); err != nil {
			return fmt.Errorf("encrypt for group %s: %w", groupID, err)
		}
		return nil
	})
	return out, err
}

// groupDecryptLocked decrypts a Sender Key message of the envelope's group
// with the sender's sender key.
func (m *messenger) groupDecryptLocked(ctx context.Context, env *wire.Envelope, addr signal.ProtocolAddress) ([]byte, error) {
	if env.Group == "" {
		return nil, errors.New("a group message without a group")
	}
	return m.cipher.GroupDecrypt(ctx, addr, env.Content)
}

// senderKeyDistribution returns the distribution id of a SenderKeyMessage.
func senderKeyDistribution(msg []byte) (uuid.UUID, error) {
	sm, err := signal.ParseSenderKeyMessage(msg)
	if err != nil {
		return uuid.Nil, err
	}
	return sm.DistributionID, nil
}

// bindSenderKeyLocked ties a sender's distribution to the group it was
// first used in, and refuses it in any other.
func (m *messenger) bindSenderKeyLocked(ctx context.Context, sender signal.ProtocolAddress, dist uuid.UUID, groupID string) error {
	g, ok, err := m.st.SenderKeyGroup(ctx, sender, dist)
	switch {
	case err != nil:
		return err
	case !ok:
		return errors.New("a group message on an unknown sender key")
	case g == "":
		return m.st.SetSenderKeyGroup(ctx, sender, dist, groupID)
	case g != groupID:
		return errors.New("a sender key of another group")
	}
	return nil
}

// processSenderKeyLocked keeps the sender key a device sent. A key
// already held (a second copy) is left as it is, so that its chain does
// not move back.
func (m *messenger) processSenderKeyLocked(ctx context.Context, env *wire.Envelope, c *content) error {
	dm, err := signal.ParseSenderKeyDistributionMessage(c.SenderKey)
	if err != nil {
		return fmt.Errorf("parse sender key: %w", err)
	}
	return m.cipher.ProcessSenderKeyDistribution(ctx, address(env.SourceAccount, env.SourceDevice), dm)
}

// repairGroupMismatched repairs sessions after a 409 like a 1:1 send does,
// except for accounts that are no longer members (g is the group as the
// server has it now): their sessions serve 1:1 conversations, and the next
// attempt leaves them out.
func (m *messenger) repairGroupMismatched(ctx context.Context, g *api.Group, list []api.MismatchedDevices) error {
	var keep []api.MismatchedDevices
	for _, mm := range list {
		if mm.AccountID == m.me.AccountID || slices.ContainsFunc(g.Members, func(x api.GroupMember) bool { return x.AccountID == mm.AccountID }) {
			keep = append(keep, mm)
			for _, d := range mm.Extra {
				if err := m.st.ForgetSenderKeysSent(ctx, g.GroupID, mm.AccountID, d); err != nil {
					return err
				}
			}
		}
	}
	return m.repairMismatched(ctx, keep)
}

// repairGroupStale replaces the sessions of re-registered devices, which
// then need the sender key again.
func (m *messenger) repairGroupStale(ctx context.Context, groupID string, list []api.StaleDevices) error {
	for _, st := range list {
		for _, d := range st.Stale {
			if err := m.st.ForgetSenderKeysSent(ctx, groupID, st.AccountID, d); err != nil {
				return err
			}
		}
	}
	return m.repairStale(ctx, list)
}

// refreshGroup fetches a group from the server and brings this device's
// state of it up to date.
func (m *messenger) refreshGroup(ctx context.Context, groupID string) (*api.Group, error) {
	g, err := m.cl.Group(ctx, groupID)
	if client.IsCode(err, api.CodeNotFound) {
		return nil, fmt.Errorf("no group %s, or this account is not a member", groupID)
	}
	if err != nil {
		return nil, fmt.Errorf("group %s: %w", groupID, err)
	}
	if g.GroupID != groupID {
		return nil, fmt.Errorf("group %s: the server answered for another group", groupID)
	}
	return g, m.saveGroup(ctx, g)
}

// saveGroup brings this device's state of a group up to date with the
// server's answer.
func (m *messenger) saveGroup(ctx context.Context, g *api.Group) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.InTx(ctx, func(ctx context.Context) error {
		return m.updateGroupLocked(ctx, g.GroupID, g.Version, g.Members, nil)
	})
}

// updateGroupLocked takes a group's member list at a version (nil: not
// known) and the accounts a change took out of it. When this account is
// out, it forgets the group's keys; when others are out (by the change,
// or missing from the new list), it discards its own sender key, once per
// version, so that its next send creates and distributes a new one.
func (m *messenger) updateGroupLocked(ctx context.Context, groupID string, version int64, members []api.GroupMember, gone []string) error {
	g, err := m.st.Group(ctx, groupID)
	if err != nil {
		return err
	}
	if g == nil {
		g = &store.Group{ID: groupID}
	}
	if slices.Contains(gone, m.me.AccountID) {
		return m.leftGroupLocked(ctx, g, version)
	}
	if members != nil && version >= g.Version {
		var now []store.GroupMember
		for _, mem := range members {
			now = append(now, store.GroupMember{AccountID: mem.AccountID, Role: mem.Role})
		}
		for _, old := range g.Members {
			if !slices.ContainsFunc(now, func(x store.GroupMember) bool { return x.AccountID == old.AccountID }) {
				gone = append(gone, old.AccountID)
			}
		}
		g.Version, g.Members = version, now
		g.Member = slices.ContainsFunc(now, func(x store.GroupMember) bool { return x.AccountID == m.me.AccountID })
	}
	if len(gone) > 0 && version > g.Rotated {
		if err := m.rotateLocked(ctx, groupID); err != nil {
			return err
		}
		g.Rotated, g.DistributionID = version, ""
	}
	return m.st.SaveGroup(ctx, g)
}

// leftGroupLocked records that this account is no longer a member and
// forgets every sender key of the group.
func (m *messenger) leftGroupLocked(ctx context.Context, g *store.Group, version int64) error {
	g.Member, g.Members, g.DistributionID = false, nil, ""
	g.Version = max(g.Version, version)
	if err := m.st.DeleteSenderKeys(ctx, g.ID, "", 0); err != nil {
		return err
	}
	if err := m.st.ForgetSenderKeysSent(ctx, g.ID, "", 0); err != nil {
		return err
	}
	return m.st.SaveGroup(ctx, g)
}

// rotateLocked discards this device's own sender key of a group; the
// caller clears the group's distribution id, so that the next send takes
// a new one.
func (m *messenger) rotateLocked(ctx context.Context, groupID string) error {
	if err := m.st.DeleteSenderKeys(ctx, groupID, m.me.AccountID, m.me.DeviceID); err != nil {
		return err
	}
	return m.st.ForgetSenderKeysSent(ctx, groupID, "", 0)
}

// receiveGroupChange takes a server notice of a group change: it is not
// encrypted, comes from no account, updates the group's state and is
// kept in the history.
func (m *messenger) receiveGroupChange(ctx context.Context, env *wire.Envelope) (*received, error) {
	ch, err := parseGroupChange(env)
	if err != nil {
		return nil, &decryptError{err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var r *received
	err = m.st.InTx(ctx, func(ctx context.Context) error {
		dup, err := m.st.HasMessage(ctx, "", 0, env.ID)
		if err != nil || dup {
			return errors.Join(err, errDuplicateIf(dup))
		}
		var gone []string
		if ch.Action == api.GroupRemoved || ch.Action == api.GroupLeft {
			gone = ch.Accounts
		}
		if err := m.updateGroupLocked(ctx, ch.GroupID, ch.Version, ch.Members, gone); err != nil {
			return err
		}
		text := m.describeChange(ctx, ch)
		r = &received{env: env, content: &content{Kind: kindGroupChange, Body: text, Group: ch.GroupID, SentAt: env.ServerTimestamp}, change: ch}
		_, err = m.st.AddMessage(ctx, &store.Message{
			EnvelopeID: env.ID, Direction: store.Incoming, Group: ch.GroupID,
			Kind: kindGroupChange, Body: text, SentAt: env.ServerTimestamp, ServerTimestamp: env.ServerTimestamp,
		})
		return err
	})
	return r, err
}

func errDuplicateIf(dup bool) error {
	if dup {
		return errDuplicate
	}
	return nil
}

// parseGroupChange checks and decodes a server notice of a group change.
func parseGroupChange(env *wire.Envelope) (*api.GroupChange, error) {
	if env.SourceAccount != "" || env.SourceDevice != 0 {
		return nil, errors.New("a group change notice that claims to come from a device")
	}
	var ch api.GroupChange
	if err := json.Unmarshal(env.Content, &ch); err != nil {
		return nil, errors.New("a group change notice that is not JSON")
	}
	if ch.GroupID == "" || env.Group != "" && env.Group != ch.GroupID {
		return nil, errors.New("a group change notice for no group or another group")
	}
	return &ch, nil
}

// describeChange words a group change for people: "+1555... added
// +1555...".
func (m *messenger) describeChange(ctx context.Context, ch *api.GroupChange) string {
	var names []string
	for _, a := range ch.Accounts {
		names = append(names, m.display(ctx, a))
	}
	who, them := m.display(ctx, ch.Actor), strings.Join(names, ", ")
	switch ch.Action {
	case api.GroupCreated:
		if them == "" {
			return who + " created the group"
		}
		return who + " created the group with " + them
	case api.GroupAdded:
		return who + " added " + them
	case api.GroupRemoved:
		return who + " removed " + them
	case api.GroupLeft:
		return them + " left"
	case api.GroupPromoted:
		return who + " made " + them + " an admin"
	}
	return fmt.Sprintf("%s: %s %s", printable(ch.Action), who, them)
}

// resolveGroup turns G into a group id: a known group whose id starts
// with G (which must be unambiguous), else G itself for the server to
// judge.
func (m *messenger) resolveGroup(ctx context.Context, g string) (string, error) {
	if strings.TrimSpace(g) == "" {
		return "", usageErrorf("empty group id")
	}
	ids, err := m.st.GroupIDs(ctx, g)
	if err != nil {
		return "", err
	}
	switch {
	case slices.Contains(ids, g), len(ids) == 0:
		return g, nil
	case len(ids) == 1:
		return ids[0], nil
	}
	return "", usageErrorf("group %q is ambiguous: %d known groups start with it", g, len(ids))
}
