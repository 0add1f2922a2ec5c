package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"go.mau.fi/libsignal/ecc"
	grouprecord "go.mau.fi/libsignal/groups/state/record"
	groupstore "go.mau.fi/libsignal/groups/state/store"
	"go.mau.fi/libsignal/keys/identity"
	"go.mau.fi/libsignal/protocol"
	"go.mau.fi/libsignal/state/record"
	"go.mau.fi/libsignal/state/store"
)

var (
	_ store.IdentityKey    = (*Store)(nil)
	_ store.PreKey         = (*Store)(nil)
	_ store.SignedPreKey   = (*Store)(nil)
	_ store.Session        = (*Store)(nil)
	_ groupstore.SenderKey = (*Store)(nil)
	_ store.SignalProtocol = (*Store)(nil)
)

// ---- identity ----

// GetIdentityKeyPair returns this account's identity key pair, or nil
// before registration or linking.
func (s *Store) GetIdentityKeyPair() *identity.KeyPair {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acct == nil {
		return nil
	}
	return s.acct.Identity
}

// GetLocalRegistrationID returns this device's registration id.
func (s *Store) GetLocalRegistrationID() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acct == nil {
		return 0
	}
	return s.acct.RegistrationID
}

// SaveIdentity trusts identityKey for the address's account (all its
// devices share one identity key).
func (s *Store) SaveIdentity(ctx context.Context, address *protocol.SignalAddress, identityKey *identity.Key) error {
	return s.SetIdentity(ctx, address.Name(), identityKey.Serialize())
}

// IsTrustedIdentity trusts on first use: a key is trusted when no key is
// known for the address's account, or when it is the known one. A changed
// key is not trusted here; the caller notices the change, warns, and
// trusts the new key with SetIdentity.
func (s *Store) IsTrustedIdentity(ctx context.Context, address *protocol.SignalAddress, identityKey *identity.Key) (bool, error) {
	known, err := s.Identity(ctx, address.Name())
	if err != nil {
		return false, err
	}
	return known == nil || bytes.Equal(known, identityKey.Serialize()), nil
}

// Identity returns the trusted identity key (serialized) of an account,
// or nil when none is known yet.
func (s *Store) Identity(ctx context.Context, accountID string) ([]byte, error) {
	var key []byte
	err := s.q(ctx).QueryRowContext(ctx, `SELECT identity_key FROM identities WHERE account_id = ?`, accountID).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load identity of %s: %w", accountID, err)
	}
	return key, nil
}

// SetIdentity trusts key as the identity key of an account.
func (s *Store) SetIdentity(ctx context.Context, accountID string, key []byte) error {
	now := s.unix()
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO identities (account_id, identity_key, first_seen, updated) VALUES (?, ?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET identity_key = excluded.identity_key, updated = excluded.updated
		WHERE identity_key != excluded.identity_key`, accountID, key, now, now)
	if err != nil {
		return fmt.Errorf("save identity of %s: %w", accountID, err)
	}
	return nil
}

// ---- one-time prekeys ----

// LoadPreKey returns a one-time prekey, or nil when there is none with id.
func (s *Store) LoadPreKey(ctx context.Context, preKeyID uint32) (*record.PreKey, error) {
	b, err := s.blob(ctx, `SELECT record FROM prekeys WHERE id = ?`, preKeyID)
	if err != nil || b == nil {
		return nil, wrap(err, "load prekey %d", preKeyID)
	}
	r, err := record.NewPreKeyFromBytes(b, s.ser.PreKeyRecord)
	if err != nil {
		return nil, wrap(err, "decode prekey %d", preKeyID)
	}
	priv := r.KeyPair().PrivateKey().Serialize()
	return record.NewPreKey(r.ID().Value, ecc.CreateKeyPair(priv[:]), s.ser.PreKeyRecord), nil
}

// StorePreKey saves a one-time prekey.
func (s *Store) StorePreKey(ctx context.Context, preKeyID uint32, r *record.PreKey) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO prekeys (id, record) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET record = excluded.record`, preKeyID, r.Serialize())
	return wrap(err, "store prekey %d", preKeyID)
}

// ContainsPreKey reports whether a one-time prekey exists.
func (s *Store) ContainsPreKey(ctx context.Context, preKeyID uint32) (bool, error) {
	return s.exists(ctx, `SELECT 1 FROM prekeys WHERE id = ?`, preKeyID)
}

// RemovePreKey deletes a one-time prekey (it has been used).
func (s *Store) RemovePreKey(ctx context.Context, preKeyID uint32) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM prekeys WHERE id = ?`, preKeyID)
	return wrap(err, "remove prekey %d", preKeyID)
}

// ---- signed prekeys ----

// LoadSignedPreKey returns a signed prekey, or nil when there is none.
func (s *Store) LoadSignedPreKey(ctx context.Context, id uint32) (*record.SignedPreKey, error) {
	b, err := s.blob(ctx, `SELECT record FROM signed_prekeys WHERE id = ?`, id)
	if err != nil || b == nil {
		return nil, wrap(err, "load signed prekey %d", id)
	}
	r, err := record.NewSignedPreKeyFromBytes(b, s.ser.SignedPreKeyRecord)
	if err != nil {
		return nil, wrap(err, "decode signed prekey %d", id)
	}
	return repairSigned(r, s.ser.SignedPreKeyRecord), nil
}

// repairSigned rebuilds a loaded signed prekey's key pair from its private
// key. libsignal (v0.2.1) stores a record's public key serialized (type
// byte first) but reads it back as the raw key, so a loaded record's public
// key is wrong; one-time prekeys are repaired the same way in LoadPreKey.
func repairSigned(r *record.SignedPreKey, ser record.SignedPreKeySerializer) *record.SignedPreKey {
	priv := r.KeyPair().PrivateKey().Serialize()
	return record.NewSignedPreKey(r.ID(), r.Timestamp(), ecc.CreateKeyPair(priv[:]), r.Signature(), ser)
}

// LoadSignedPreKeys returns every signed prekey.
func (s *Store) LoadSignedPreKeys(ctx context.Context) ([]*record.SignedPreKey, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT record FROM signed_prekeys ORDER BY id`)
	if err != nil {
		return nil, wrap(err, "load signed prekeys")
	}
	defer rows.Close()
	var out []*record.SignedPreKey
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, wrap(err, "load signed prekeys")
		}
		r, err := record.NewSignedPreKeyFromBytes(b, s.ser.SignedPreKeyRecord)
		if err != nil {
			return nil, wrap(err, "decode signed prekey")
		}
		out = append(out, repairSigned(r, s.ser.SignedPreKeyRecord))
	}
	return out, wrap(rows.Err(), "load signed prekeys")
}

// StoreSignedPreKey saves a signed prekey.
func (s *Store) StoreSignedPreKey(ctx context.Context, id uint32, r *record.SignedPreKey) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO signed_prekeys (id, record) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET record = excluded.record`, id, r.Serialize())
	return wrap(err, "store signed prekey %d", id)
}

// ContainsSignedPreKey reports whether a signed prekey exists.
func (s *Store) ContainsSignedPreKey(ctx context.Context, id uint32) (bool, error) {
	return s.exists(ctx, `SELECT 1 FROM signed_prekeys WHERE id = ?`, id)
}

// RemoveSignedPreKey deletes a signed prekey.
func (s *Store) RemoveSignedPreKey(ctx context.Context, id uint32) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM signed_prekeys WHERE id = ?`, id)
	return wrap(err, "remove signed prekey %d", id)
}

// ---- sessions ----

// LoadSession returns the session with an address, or a fresh empty record
// when there is none (as libsignal expects).
func (s *Store) LoadSession(ctx context.Context, address *protocol.SignalAddress) (*record.Session, error) {
	b, err := s.blob(ctx, `SELECT record FROM sessions WHERE account_id = ? AND device_id = ?`, address.Name(), address.DeviceID())
	if err != nil {
		return nil, wrap(err, "load session %s", address)
	}
	if b == nil {
		return record.NewSession(s.ser.Session, s.ser.State), nil
	}
	r, err := record.NewSessionFromBytes(b, s.ser.Session, s.ser.State)
	return r, wrap(err, "decode session %s", address)
}

// GetSubDeviceSessions returns the device ids of an account this device
// has sessions with.
func (s *Store) GetSubDeviceSessions(ctx context.Context, name string) ([]uint32, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT device_id FROM sessions WHERE account_id = ? ORDER BY device_id`, name)
	if err != nil {
		return nil, wrap(err, "list sessions of %s", name)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var d uint32
		if err := rows.Scan(&d); err != nil {
			return nil, wrap(err, "list sessions of %s", name)
		}
		out = append(out, d)
	}
	return out, wrap(rows.Err(), "list sessions of %s", name)
}

// StoreSession saves the session with an address.
func (s *Store) StoreSession(ctx context.Context, address *protocol.SignalAddress, r *record.Session) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO sessions (account_id, device_id, record) VALUES (?, ?, ?)
		ON CONFLICT (account_id, device_id) DO UPDATE SET record = excluded.record`,
		address.Name(), address.DeviceID(), r.Serialize())
	return wrap(err, "store session %s", address)
}

// ContainsSession reports whether a session with an address exists.
func (s *Store) ContainsSession(ctx context.Context, address *protocol.SignalAddress) (bool, error) {
	return s.exists(ctx, `SELECT 1 FROM sessions WHERE account_id = ? AND device_id = ?`, address.Name(), address.DeviceID())
}

// DeleteSession deletes the session with an address.
func (s *Store) DeleteSession(ctx context.Context, address *protocol.SignalAddress) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM sessions WHERE account_id = ? AND device_id = ?`, address.Name(), address.DeviceID())
	return wrap(err, "delete session %s", address)
}

// DeleteAllSessions deletes every session.
func (s *Store) DeleteAllSessions(ctx context.Context) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM sessions`)
	return wrap(err, "delete sessions")
}

// DeleteAccountSessions deletes every session with devices of an account.
func (s *Store) DeleteAccountSessions(ctx context.Context, accountID string) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM sessions WHERE account_id = ?`, accountID)
	return wrap(err, "delete sessions of %s", accountID)
}

// ---- sender keys ----

// StoreSenderKey saves a group sender key record.
func (s *Store) StoreSenderKey(ctx context.Context, name *protocol.SenderKeyName, r *grouprecord.SenderKey) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO sender_keys (group_id, account_id, device_id, record) VALUES (?, ?, ?, ?)
		ON CONFLICT (group_id, account_id, device_id) DO UPDATE SET record = excluded.record`,
		name.GroupID(), name.Sender().Name(), name.Sender().DeviceID(), r.Serialize())
	return wrap(err, "store sender key of %s in %s", name.Sender(), name.GroupID())
}

// LoadSenderKey returns a group sender key record, or an empty one.
func (s *Store) LoadSenderKey(ctx context.Context, name *protocol.SenderKeyName) (*grouprecord.SenderKey, error) {
	b, err := s.blob(ctx, `SELECT record FROM sender_keys WHERE group_id = ? AND account_id = ? AND device_id = ?`,
		name.GroupID(), name.Sender().Name(), name.Sender().DeviceID())
	if err != nil {
		return nil, wrap(err, "load sender key of %s in %s", name.Sender(), name.GroupID())
	}
	if b == nil {
		return grouprecord.NewSenderKey(s.ser.SenderKeyRecord, s.ser.SenderKeyState), nil
	}
	r, err := grouprecord.NewSenderKeyFromBytes(b, s.ser.SenderKeyRecord, s.ser.SenderKeyState)
	return r, wrap(err, "decode sender key of %s in %s", name.Sender(), name.GroupID())
}

// ---- helpers ----

// blob returns the one BLOB a query selects, or nil for no row.
func (s *Store) blob(ctx context.Context, query string, args ...any) ([]byte, error) {
	var b []byte
	err := s.q(ctx).QueryRowContext(ctx, query, args...).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if b == nil && err == nil {
		b = []byte{}
	}
	return b, err
}

func (s *Store) exists(ctx context.Context, query string, args ...any) (bool, error) {
	var one int
	err := s.q(ctx).QueryRowContext(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	return true, nil
}

// wrap adds context to a non-nil error.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
