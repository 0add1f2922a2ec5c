package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
)

// ErrNoPush means this device has made no push registration (or removed
// it).
var ErrNoPush = errors.New("no push registration kept in this home")

// Push is this device's push registration as it made it. A Web Push (and
// UnifiedPush) registration keeps its endpoint and the subscription's
// keys; the other kinds keep their kind only.
type Push struct {
	Kind       string
	Endpoint   Secret      // Web Push: the push resource; its path is a credential
	PrivateKey SecretBytes // Web Push: the P-256 private scalar (32 octets)
	Auth       SecretBytes // Web Push: the authentication secret (16 octets)
	Created    int64       // Unix seconds
}

// LogValue logs the kind and hides the rest.
func (p Push) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kind", p.Kind),
		slog.String("endpoint", redacted),
		slog.String("private_key", redacted),
		slog.String("auth", redacted),
	)
}

// SetPush keeps p as this device's push registration, replacing any;
// Created is set to now.
func (s *Store) SetPush(ctx context.Context, p *Push) error {
	if p.Kind == "" {
		return errors.New("set push registration: no kind")
	}
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO push (id, kind, endpoint, private_key, auth, created)
		VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, endpoint = excluded.endpoint,
		private_key = excluded.private_key, auth = excluded.auth, created = excluded.created`,
		p.Kind, p.Endpoint.Reveal(), []byte(p.PrivateKey), []byte(p.Auth), s.unix())
	if err != nil {
		return fmt.Errorf("set push registration: %w", err)
	}
	return nil
}

// Push returns this device's push registration, or ErrNoPush.
func (s *Store) Push(ctx context.Context) (*Push, error) {
	var (
		p        Push
		endpoint string
		priv     []byte
		auth     []byte
	)
	err := s.q(ctx).QueryRowContext(ctx, `SELECT kind, endpoint, private_key, auth, created FROM push WHERE id = 1`).
		Scan(&p.Kind, &endpoint, &priv, &auth, &p.Created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoPush
	}
	if err != nil {
		return nil, fmt.Errorf("load push registration: %w", err)
	}
	p.Endpoint, p.PrivateKey, p.Auth = Secret(endpoint), SecretBytes(priv), SecretBytes(auth)
	return &p, nil
}

// DeletePush forgets this device's push registration, if any.
func (s *Store) DeletePush(ctx context.Context) error {
	if _, err := s.q(ctx).ExecContext(ctx, `DELETE FROM push WHERE id = 1`); err != nil {
		return fmt.Errorf("delete push registration: %w", err)
	}
	return nil
}
