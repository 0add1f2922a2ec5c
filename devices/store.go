package devices

import (
	"context"
	"time"

	"github.com/hushmsg/hush/internal/api"
)

// Store keeps accounts, devices and pending codes. Implementations:
// internal/sqlite (and the PostgreSQL one).
type Store interface {
	// PutRegistrationCode sets number's pending code, replacing any (and
	// its count of tries).
	PutRegistrationCode(ctx context.Context, number string, c RegistrationCode) error
	// RegistrationCode returns number's pending code or ErrNotFound.
	RegistrationCode(ctx context.Context, number string) (RegistrationCode, error)
	// TakeCodeAttempt counts one try of number's pending code and returns
	// the code, in one statement: of any number of concurrent calls at
	// most max ever get the code. It returns ErrNotFound when there is no
	// code or it expired before now, and ErrTooManyAttempts when max
	// tries were taken already.
	TakeCodeAttempt(ctx context.Context, number string, now time.Time, max int) (RegistrationCode, error)
	// DeleteExpiredRegistrationCodes deletes the codes that expired
	// before now and returns how many.
	DeleteExpiredRegistrationCodes(ctx context.Context, now time.Time) (int64, error)
	// Register registers r.Number in one transaction (see Registration)
	// and deletes its pending code. It returns ErrNotFound when r.CodeHash
	// is set and that code is no longer pending (another verification
	// used it), and ErrRegistrationLocked when the number's account has
	// a registration lock and was active at or after r.LockedSince but
	// r.Keep does not name it.
	Register(ctx context.Context, r Registration) (Registered, error)
	// NumberHolder returns the account registered for number, with its
	// last activity and its registration lock, or ErrNotFound.
	NumberHolder(ctx context.Context, number string) (Holder, error)
	// SetRegistrationLock sets (or replaces) an account's registration
	// lock, with no failed tries counted.
	SetRegistrationLock(ctx context.Context, accountID string, l RegistrationLock) error
	// DeleteRegistrationLock removes an account's registration lock, if
	// any.
	DeleteRegistrationLock(ctx context.Context, accountID string) error
	// TakeLockAttempt counts one try of an account's registration lock
	// and returns the lock, in one statement. Tries are counted in a
	// window that starts with the first try after the last window ended
	// (per long); within one window at most max calls get the lock, the
	// rest get ErrTooManyAttempts. No lock is ErrNotFound.
	TakeLockAttempt(ctx context.Context, accountID string, now time.Time, per time.Duration, max int) (RegistrationLock, error)
	// ResetLockAttempts forgets the tries counted against a lock.
	ResetLockAttempts(ctx context.Context, accountID string) error
	// ReplacedAccounts lists up to limit accounts that lost their number
	// to a new registration and still wait to be erased.
	ReplacedAccounts(ctx context.Context, limit int) ([]string, error)
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

// Registration is what registering a number does, in one transaction.
//
// The number's code (CodeHash, when set) is taken. If the number has no
// account, account NewID is created with primary device 1. If its account
// is Keep (its holder proved the registration lock), that account keeps
// its id, groups and settings but loses every device, key and envelope
// and takes the new identity key. Otherwise the number's account is
// replaced: it loses the number and every device at once (so its
// credentials and keys are gone) and waits in ReplacedAccounts to be
// erased, and the number gets the new account NewID. An account with a
// registration lock that was active at or after LockedSince is never
// replaced (ErrRegistrationLocked).
type Registration struct {
	Number      string
	CodeHash    []byte
	NewID       string
	IdentityKey []byte
	Primary     NewDevice
	Keep        string
	LockedSince time.Time
}

// Registered is the outcome of a registration: the number's account, and
// the account it replaced ("" none).
type Registered struct {
	AccountID string
	Replaced  string
}

// Holder is the account a number is registered to.
type Holder struct {
	AccountID string
	// LastActive is the account's last activity (its creation when it
	// was never seen), to the minute.
	LastActive time.Time
	// Lock is the account's registration lock, nil when it has none.
	Lock *RegistrationLock
}

// RegistrationLock is an account's registration lock as stored: a hash of
// the client's token and the salt the client derived it with, never the
// PIN or the token.
type RegistrationLock struct {
	TokenHash []byte
	Salt      []byte
	Created   time.Time
	// Failures counts the tries in the window started at FailuresSince.
	Failures      int
	FailuresSince time.Time
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
