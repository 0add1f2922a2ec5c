package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hushmsg/hush/signal"
)

// ErrNoAccount means the home holds no registered or linked device yet.
var ErrNoAccount = errors.New("no account in this home: run \"hush register\" or \"hush link\" first")

// ErrHasAccount means the home holds a device already.
var ErrHasAccount = errors.New("this home holds an account already; use another --home")

// Account is this device: who it is, how it authenticates, and the
// account's identity key pair (shared by all its devices).
type Account struct {
	AccountID      string
	DeviceID       uint32
	Password       Secret
	Number         string
	Identity       signal.IdentityKeyPair
	RegistrationID uint32
}

// Primary reports whether this is the account's primary device.
func (a *Account) Primary() bool { return a.DeviceID == 1 }

// LogValue logs who the device is and hides the password and private key.
func (a Account) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account_id", a.AccountID),
		slog.Uint64("device_id", uint64(a.DeviceID)),
		slog.String("number", a.Number),
		slog.String("password", redacted),
		slog.String("identity_private", redacted),
	)
}

// String names the device and hides its secrets.
func (a Account) String() string {
	return fmt.Sprintf("%s.%d (%s)", a.AccountID, a.DeviceID, a.Number)
}

// Account returns this device, or ErrNoAccount.
func (s *Store) Account() (*Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acct == nil {
		return nil, ErrNoAccount
	}
	a := *s.acct
	return &a, nil
}

// CreateAccount saves this device. A home holds one device for its whole
// life: a second call is ErrHasAccount.
func (s *Store) CreateAccount(ctx context.Context, a *Account) error {
	if a.AccountID == "" || a.DeviceID == 0 || a.Password == "" {
		return errors.New("create account: incomplete account")
	}
	if _, err := IdentityKeyPair(a.Identity.Public.Bytes(), a.Identity.Private.Bytes()); err != nil {
		return fmt.Errorf("create account: %w", err)
	}
	priv := a.Identity.Private.Bytes()
	defer clear(priv)
	res, err := s.q(ctx).ExecContext(ctx, `INSERT INTO account
		(id, account_id, device_id, password, number, identity_public, identity_private, registration_id, created)
		VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		a.AccountID, a.DeviceID, a.Password.Reveal(), a.Number,
		a.Identity.Public.Bytes(), priv, a.RegistrationID, s.unix())
	if err != nil {
		return fmt.Errorf("create account: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrHasAccount
	}
	cp := *a
	s.AfterCommit(ctx, func() {
		s.mu.Lock()
		s.acct = &cp
		s.mu.Unlock()
	})
	return nil
}

func (s *Store) loadAccount(ctx context.Context) (*Account, error) {
	var (
		a         Account
		password  string
		pub, priv []byte
	)
	err := s.q(ctx).QueryRowContext(ctx, `SELECT account_id, device_id, password, number, identity_public, identity_private, registration_id
		FROM account WHERE id = 1`).Scan(&a.AccountID, &a.DeviceID, &password, &a.Number, &pub, &priv, &a.RegistrationID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load account: %w", err)
	}
	defer clear(priv)
	a.Password = Secret(password)
	kp, err := IdentityKeyPair(pub, priv)
	if err != nil {
		return nil, fmt.Errorf("load account: %w", err)
	}
	a.Identity = kp
	return &a, nil
}

// IdentityKeyPair rebuilds an identity key pair from a serialized public
// key (33 bytes, type 0x05) and a 32-byte private key, and checks that the
// two belong together.
func IdentityKeyPair(public, private []byte) (signal.IdentityKeyPair, error) {
	if len(private) != 32 {
		return signal.IdentityKeyPair{}, errors.New("identity private key must be 32 bytes")
	}
	pub, err := signal.ParseIdentityKey(public)
	if err != nil {
		return signal.IdentityKeyPair{}, errors.New("identity public key must be 33 bytes of type 0x05")
	}
	priv, err := signal.ParsePrivateKey(private)
	if err != nil {
		return signal.IdentityKeyPair{}, errors.New("identity private key is not valid")
	}
	pair := signal.NewIdentityKeyPair(priv)
	if !pair.Public.Equal(pub) {
		return signal.IdentityKeyPair{}, errors.New("identity private key does not match the public key")
	}
	return pair, nil
}
