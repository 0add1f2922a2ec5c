package devices

import (
	"context"
	"time"

	"github.com/hushmsg/hush/internal/api"
)

// Store keeps accounts, devices and pending codes. Implementations:
// internal/sqlite (and the PostgreSQL one).
type Store interface {
	// PutRegistrationCode sets number's pending code, replacing any.
	PutRegistrationCode(ctx context.Context, number string, c RegistrationCode) error
	// RegistrationCode returns number's pending code or ErrNotFound.
	RegistrationCode(ctx context.Context, number string) (RegistrationCode, error)
	// CountCodeAttempt adds one to the pending code's attempts.
	CountCodeAttempt(ctx context.Context, number string) error
	// Register creates the account of number with primary device 1 and
	// deletes the pending code, in one transaction. If number already has
	// an account, that account keeps its id but loses every device, key
	// and envelope and takes the new identity key. It returns the account
	// id (newID when the account is new).
	Register(ctx context.Context, number, newID string, identityKey []byte, primary NewDevice) (accountID string, err error)
	// IdentityKey returns the account's identity key or ErrNotFound.
	IdentityKey(ctx context.Context, accountID string) ([]byte, error)
	// AccountByNumber returns the id of number's account or ErrNotFound.
	AccountByNumber(ctx context.Context, number string) (string, error)
	// Credential returns a device's password hash and last-seen day, or
	// ErrNotFound.
	Credential(ctx context.Context, accountID string, deviceID uint32) (Credential, error)
	// TouchDevice sets a device's last-seen day.
	TouchDevice(ctx context.Context, accountID string, deviceID uint32, day int64) error
	// Devices lists an account's devices by id.
	Devices(ctx context.Context, accountID string) ([]Device, error)
	// AddDevice adds a device with the lowest id in 2..MaxDeviceID that no
	// device of the account has (NextDeviceID), unless the account has max
	// devices already or no id is free (ErrTooManyDevices) or does not
	// exist (ErrNotFound).
	AddDevice(ctx context.Context, accountID string, d NewDevice, max int) (uint32, error)
	// RemoveDevice deletes a device with its keys and envelopes, or
	// returns ErrNotFound.
	RemoveDevice(ctx context.Context, accountID string, deviceID uint32) error
	// PutProvisioningCode stores a one-use linking code for the account.
	PutProvisioningCode(ctx context.Context, accountID string, hash []byte, expires time.Time) error
	// TakeProvisioningCode deletes the code and reports whether it existed
	// unexpired at now.
	TakeProvisioningCode(ctx context.Context, accountID string, hash []byte, now time.Time) (bool, error)
	// Presence returns when an account was last active (Unix seconds, 0
	// never) and who may see it, or ErrNotFound.
	Presence(ctx context.Context, accountID string) (lastSeen int64, visibility string, err error)
	// SetLastSeen records an account's last activity, never moving it back.
	SetLastSeen(ctx context.Context, accountID string, at int64) error
	// SetLastSeenVisibility sets who may see an account's last seen, or
	// returns ErrNotFound.
	SetLastSeenVisibility(ctx context.Context, accountID, visibility string) error
}

// RegistrationCode is a pending code: only its hash is kept.
type RegistrationCode struct {
	Hash     []byte
	Expires  time.Time
	Attempts int
}

// NewDevice is what a device brings when it is created.
type NewDevice struct {
	PasswordHash       []byte
	RegistrationID     uint32
	Name               string
	SignedPreKey       api.SignedPreKey
	PQLastResortPreKey api.SignedPreKey
	Created            time.Time
}

// Device is a stored device.
type Device struct {
	ID             uint32
	RegistrationID uint32
	Name           string
	Created        time.Time
	LastSeenDay    int64 // Unix seconds at the start of the UTC day
}

// Credential is what authentication needs of a device.
type Credential struct {
	PasswordHash []byte
	LastSeenDay  int64
}

// MaxDeviceID is the largest device id: libsignal's ProtocolAddress takes
// device ids 1..127, so an official client cannot address a larger one.
const MaxDeviceID = 127

// NextDeviceID returns the lowest id in 2..MaxDeviceID that is not in used
// (the account's device ids, in any order), and false when all are taken.
// Ids of removed devices are given out again: the ids never run out after
// many link and remove cycles, and a peer's session with the old device
// fails as stale (another registration id), not silently.
func NextDeviceID(used []uint32) (uint32, bool) {
	var taken [MaxDeviceID + 1]bool
	for _, id := range used {
		if id <= MaxDeviceID {
			taken[id] = true
		}
	}
	for id := uint32(2); id <= MaxDeviceID; id++ {
		if !taken[id] {
			return id, true
		}
	}
	return 0, false
}
