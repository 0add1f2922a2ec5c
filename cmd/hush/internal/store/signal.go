package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/signal"
)

var (
	_ signal.IdentityStore     = (*Store)(nil)
	_ signal.PreKeyStore       = (*Store)(nil)
	_ signal.SignedPreKeyStore = (*Store)(nil)
	_ signal.KyberPreKeyStore  = (*Store)(nil)
	_ signal.SessionStore      = (*Store)(nil)
	_ signal.SenderKeyStore    = (*Store)(nil)
)

// SignalConfig returns a signal.Config with the store in every role.
func (s *Store) SignalConfig() signal.Config {
	return signal.Config{Identity: s, PreKeys: s, SignedPreKeys: s, KyberPreKeys: s, Sessions: s, SenderKeys: s}
}

// ---- identity ----

// IdentityKeyPair implements signal.IdentityStore: this account's
// identity, ErrNoAccount before registration or linking.
func (s *Store) IdentityKeyPair(context.Context) (signal.IdentityKeyPair, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acct == nil {
		return signal.IdentityKeyPair{}, ErrNoAccount
	}
	return s.acct.Identity, nil
}

// LocalRegistrationID implements signal.IdentityStore.
func (s *Store) LocalRegistrationID(context.Context) (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acct == nil {
		return 0, ErrNoAccount
	}
	return s.acct.RegistrationID, nil
}

// SaveIdentity implements signal.IdentityStore. Every device of an
// account shares its identity key, so the key is kept per account.
func (s *Store) SaveIdentity(ctx context.Context, addr signal.ProtocolAddress, key signal.IdentityKey) (bool, error) {
	known, err := s.TrustedIdentity(ctx, addr.Name)
	if err != nil {
		return false, err
	}
	if err := s.SetIdentity(ctx, addr.Name, key.Bytes()); err != nil {
		return false, err
	}
	return known != nil && string(known) != string(key.Bytes()), nil
}

// IsTrustedIdentity implements signal.IdentityStore with trust on first
// use: a key is trusted when no key is known for the address's account,
// or when it is the known one. A changed key is not trusted here; the
// client notices the change first, warns, and trusts the new key with
// SetIdentity.
func (s *Store) IsTrustedIdentity(ctx context.Context, addr signal.ProtocolAddress, key signal.IdentityKey, _ signal.Direction) (bool, error) {
	known, err := s.TrustedIdentity(ctx, addr.Name)
	if err != nil {
		return false, err
	}
	return known == nil || string(known) == string(key.Bytes()), nil
}

// Identity implements signal.IdentityStore.
func (s *Store) Identity(ctx context.Context, addr signal.ProtocolAddress) (signal.IdentityKey, bool, error) {
	known, err := s.TrustedIdentity(ctx, addr.Name)
	if err != nil || known == nil {
		return signal.IdentityKey{}, false, err
	}
	k, err := signal.ParseIdentityKey(known)
	if err != nil {
		return signal.IdentityKey{}, false, fmt.Errorf("identity of %s: %w", addr.Name, err)
	}
	return k, true, nil
}

// TrustedIdentity returns the trusted identity key (serialized) of an
// account, or nil when none is known yet.
func (s *Store) TrustedIdentity(ctx context.Context, accountID string) ([]byte, error) {
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

// PreKey implements signal.PreKeyStore.
func (s *Store) PreKey(ctx context.Context, id uint32) (*signal.PreKeyRecord, error) {
	b, err := s.blob(ctx, `SELECT record FROM prekeys WHERE id = ?`, id)
	if err != nil {
		return nil, wrap(err, "load prekey %d", id)
	}
	if b == nil {
		return nil, fmt.Errorf("%w: %d", signal.ErrInvalidPreKeyID, id)
	}
	r, err := signal.ParsePreKeyRecord(b)
	return r, wrap(err, "decode prekey %d", id)
}

// StorePreKey saves a one-time prekey.
func (s *Store) StorePreKey(ctx context.Context, r *signal.PreKeyRecord) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO prekeys (id, record) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET record = excluded.record`, r.ID, r.Bytes())
	return wrap(err, "store prekey %d", r.ID)
}

// RemovePreKey implements signal.PreKeyStore.
func (s *Store) RemovePreKey(ctx context.Context, id uint32) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM prekeys WHERE id = ?`, id)
	return wrap(err, "remove prekey %d", id)
}

// ---- signed prekeys ----

// SignedPreKey implements signal.SignedPreKeyStore.
func (s *Store) SignedPreKey(ctx context.Context, id uint32) (*signal.SignedPreKeyRecord, error) {
	b, err := s.blob(ctx, `SELECT record FROM signed_prekeys WHERE id = ?`, id)
	if err != nil {
		return nil, wrap(err, "load signed prekey %d", id)
	}
	if b == nil {
		return nil, fmt.Errorf("%w: %d", signal.ErrInvalidSignedPreKeyID, id)
	}
	r, err := signal.ParseSignedPreKeyRecord(b)
	return r, wrap(err, "decode signed prekey %d", id)
}

// StoreSignedPreKey saves a signed prekey.
func (s *Store) StoreSignedPreKey(ctx context.Context, r *signal.SignedPreKeyRecord) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO signed_prekeys (id, record, created) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET record = excluded.record`, r.ID, r.Bytes(), s.unix())
	return wrap(err, "store signed prekey %d", r.ID)
}

// ---- Kyber prekeys ----

// KyberPreKey implements signal.KyberPreKeyStore.
func (s *Store) KyberPreKey(ctx context.Context, id uint32) (*signal.KyberPreKeyRecord, error) {
	b, err := s.blob(ctx, `SELECT record FROM kyber_prekeys WHERE id = ?`, id)
	if err != nil {
		return nil, wrap(err, "load kyber prekey %d", id)
	}
	if b == nil {
		return nil, fmt.Errorf("%w: %d", signal.ErrInvalidKyberPreKeyID, id)
	}
	r, err := signal.ParseKyberPreKeyRecord(b)
	return r, wrap(err, "decode kyber prekey %d", id)
}

// StoreKyberPreKey saves a Kyber prekey; a last-resort one is kept after
// use.
func (s *Store) StoreKyberPreKey(ctx context.Context, r *signal.KyberPreKeyRecord, lastResort bool) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO kyber_prekeys (id, record, last_resort, created) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET record = excluded.record, last_resort = excluded.last_resort, created = excluded.created`,
		r.ID, r.Bytes(), lastResort, s.unix())
	return wrap(err, "store kyber prekey %d", r.ID)
}

// errKyberReplay refuses a session start that used the last-resort key
// with a base key seen before.
var errKyberReplay = fmt.Errorf("%w: a session start with a last-resort kyber prekey and base key used before", signal.ErrInvalidMessage)

// MarkKyberPreKeyUsed implements signal.KyberPreKeyStore: a one-time key
// is removed; a last-resort key is kept and each (signed prekey, base
// key) using it is remembered, a second use being refused.
func (s *Store) MarkKyberPreKeyUsed(ctx context.Context, id, signedID uint32, base signal.PublicKey) error {
	var lastResort bool
	err := s.q(ctx).QueryRowContext(ctx, `SELECT last_resort FROM kyber_prekeys WHERE id = ?`, id).Scan(&lastResort)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // removed meanwhile: nothing to mark
	}
	if err != nil {
		return wrap(err, "mark kyber prekey %d used", id)
	}
	if !lastResort {
		_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM kyber_prekeys WHERE id = ?`, id)
		return wrap(err, "remove kyber prekey %d", id)
	}
	res, err := s.q(ctx).ExecContext(ctx, `INSERT INTO kyber_uses (id, signed_id, base_key) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		id, signedID, base.Bytes())
	if err != nil {
		return wrap(err, "mark kyber prekey %d used", id)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errKyberReplay
	}
	return nil
}

// CountPreKeys returns how many one-time EC and Kyber prekeys the store
// holds.
func (s *Store) CountPreKeys(ctx context.Context) (ec, pq int, err error) {
	err = s.q(ctx).QueryRowContext(ctx, `SELECT (SELECT count(*) FROM prekeys), (SELECT count(*) FROM kyber_prekeys WHERE NOT last_resort)`).Scan(&ec, &pq)
	if err != nil {
		return 0, 0, fmt.Errorf("count prekeys: %w", err)
	}
	return ec, pq, nil
}

// ---- sessions ----

// LoadSession implements signal.SessionStore: nil when there is none.
func (s *Store) LoadSession(ctx context.Context, addr signal.ProtocolAddress) (*signal.SessionRecord, error) {
	b, err := s.blob(ctx, `SELECT record FROM sessions WHERE account_id = ? AND device_id = ?`, addr.Name, addr.DeviceID)
	if err != nil {
		return nil, wrap(err, "load session %s", addr)
	}
	if b == nil {
		return nil, nil
	}
	r, err := signal.ParseSessionRecord(b)
	return r, wrap(err, "decode session %s", addr)
}

// StoreSession implements signal.SessionStore.
func (s *Store) StoreSession(ctx context.Context, addr signal.ProtocolAddress, r *signal.SessionRecord) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO sessions (account_id, device_id, record) VALUES (?, ?, ?)
		ON CONFLICT (account_id, device_id) DO UPDATE SET record = excluded.record`,
		addr.Name, addr.DeviceID, r.Bytes())
	return wrap(err, "store session %s", addr)
}

// SessionDevices returns the device ids of an account this device has
// session records with (usable for sending or not).
func (s *Store) SessionDevices(ctx context.Context, accountID string) ([]uint32, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT device_id FROM sessions WHERE account_id = ? ORDER BY device_id`, accountID)
	if err != nil {
		return nil, wrap(err, "list sessions of %s", accountID)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var d uint32
		if err := rows.Scan(&d); err != nil {
			return nil, wrap(err, "list sessions of %s", accountID)
		}
		out = append(out, d)
	}
	return out, wrap(rows.Err(), "list sessions of %s", accountID)
}

// DeleteSession deletes the session with one device of an account.
func (s *Store) DeleteSession(ctx context.Context, accountID string, deviceID uint32) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM sessions WHERE account_id = ? AND device_id = ?`, accountID, deviceID)
	return wrap(err, "delete session %s.%d", accountID, deviceID)
}

// DeleteAccountSessions deletes every session with devices of an account.
func (s *Store) DeleteAccountSessions(ctx context.Context, accountID string) error {
	_, err := s.q(ctx).ExecContext(ctx, `DELETE FROM sessions WHERE account_id = ?`, accountID)
	return wrap(err, "delete sessions of %s", accountID)
}

// ---- sender keys ----

// LoadSenderKey implements signal.SenderKeyStore: nil when there is none.
func (s *Store) LoadSenderKey(ctx context.Context, sender signal.ProtocolAddress, dist uuid.UUID) (*signal.SenderKeyRecord, error) {
	b, err := s.blob(ctx, `SELECT record FROM sender_keys WHERE account_id = ? AND device_id = ? AND distribution_id = ?`,
		sender.Name, sender.DeviceID, dist.String())
	if err != nil {
		return nil, wrap(err, "load sender key of %s (%s)", sender, dist)
	}
	if b == nil {
		return nil, nil
	}
	r, err := signal.ParseSenderKeyRecord(b)
	return r, wrap(err, "decode sender key of %s (%s)", sender, dist)
}

// StoreSenderKey implements signal.SenderKeyStore; the group the
// distribution belongs to, once known, is kept.
func (s *Store) StoreSenderKey(ctx context.Context, sender signal.ProtocolAddress, dist uuid.UUID, r *signal.SenderKeyRecord) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO sender_keys (account_id, device_id, distribution_id, record) VALUES (?, ?, ?, ?)
		ON CONFLICT (account_id, device_id, distribution_id) DO UPDATE SET record = excluded.record`,
		sender.Name, sender.DeviceID, dist.String(), r.Bytes())
	return wrap(err, "store sender key of %s (%s)", sender, dist)
}

// SenderKeyGroup returns the group a sender's distribution was seen in
// ("" when none yet), and whether the store holds the distribution.
func (s *Store) SenderKeyGroup(ctx context.Context, sender signal.ProtocolAddress, dist uuid.UUID) (string, bool, error) {
	var g string
	err := s.q(ctx).QueryRowContext(ctx, `SELECT group_id FROM sender_keys WHERE account_id = ? AND device_id = ? AND distribution_id = ?`,
		sender.Name, sender.DeviceID, dist.String()).Scan(&g)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return g, err == nil, wrap(err, "load sender key group of %s (%s)", sender, dist)
}

// SetSenderKeyGroup records the group a sender's distribution belongs to.
func (s *Store) SetSenderKeyGroup(ctx context.Context, sender signal.ProtocolAddress, dist uuid.UUID, groupID string) error {
	_, err := s.q(ctx).ExecContext(ctx, `UPDATE sender_keys SET group_id = ? WHERE account_id = ? AND device_id = ? AND distribution_id = ?`,
		groupID, sender.Name, sender.DeviceID, dist.String())
	return wrap(err, "record sender key group of %s (%s)", sender, dist)
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

// SenderKeyDistributions lists the distribution ids of the sender keys
// held for a sending device.
func (s *Store) SenderKeyDistributions(ctx context.Context, sender signal.ProtocolAddress) ([]string, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT distribution_id FROM sender_keys WHERE account_id = ? AND device_id = ? ORDER BY distribution_id`,
		sender.Name, sender.DeviceID)
	if err != nil {
		return nil, wrap(err, "list sender keys of %s", sender)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, wrap(err, "list sender keys of %s", sender)
		}
		out = append(out, d)
	}
	return out, wrap(rows.Err(), "list sender keys of %s", sender)
}

// ArchiveSession archives the session with a device, if there is one: no
// more sends on it, but late messages on it still decrypt.
func (s *Store) ArchiveSession(ctx context.Context, addr signal.ProtocolAddress) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		rec, err := s.LoadSession(ctx, addr)
		if err != nil || rec == nil {
			return err
		}
		rec.ArchiveCurrentState()
		return s.StoreSession(ctx, addr, rec)
	})
}
