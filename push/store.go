package push

import (
	"context"
	"errors"
	"time"
)

// Errors a Store returns.
var (
	ErrNotFound      = errors.New("no push registration")
	ErrUnknownDevice = errors.New("no such device")
)

// Stored is a registration as kept: Data is the Registration as JSON.
type Stored struct {
	Kind             string
	Data             []byte
	Created, Updated time.Time
	Woken            time.Time // zero: no wake-up since the device connected
}

// Store keeps push registrations. Implementations: internal/sqlite,
// internal/postgres.
type Store interface {
	// PutPushRegistration sets a device's registration (replacing any),
	// with no wake-up claimed. ErrUnknownDevice if the device is gone.
	PutPushRegistration(ctx context.Context, account string, device uint32, kind string, data []byte, now time.Time) error
	// PushRegistration returns a device's registration, or ErrNotFound.
	PushRegistration(ctx context.Context, account string, device uint32) (Stored, error)
	// DeletePushRegistration removes a device's registration; when data
	// is not nil, only if it is still that one (a registration replaced
	// since a provider said the old one was gone stays).
	DeletePushRegistration(ctx context.Context, account string, device uint32, data []byte) error
	// ClaimWake claims the device's next wake-up at now: it succeeds, and
	// returns the registration, only if the device has one and no wake-up
	// was claimed after notBefore; so of many nodes and envelopes, one
	// wakes the device.
	ClaimWake(ctx context.Context, account string, device uint32, now, notBefore time.Time) (Stored, bool, error)
	// ResetWake forgets the claimed wake-up: the device connected.
	ResetWake(ctx context.Context, account string, device uint32) error
}
