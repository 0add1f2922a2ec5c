package keys

import (
	"context"

	"github.com/hushmsg/hush/internal/api"
)

// Store keeps keys. Implementations: internal/sqlite (and the PostgreSQL one).
type Store interface {
	// IdentityKey returns the account's identity key, or ErrNotFound.
	IdentityKey(ctx context.Context, accountID string) ([]byte, error)
	// SetKeys stores, in one transaction, the parts of set that are present:
	// replacing the signed and last-resort keys, adding one-time keys
	// (replacing any with the same id). ErrNotFound if the device is gone.
	SetKeys(ctx context.Context, accountID string, deviceID uint32, set *api.SetKeys) error
	// CountPreKeys counts the device's one-time keys.
	CountPreKeys(ctx context.Context, accountID string, deviceID uint32) (api.KeyCount, error)
	// ClaimBundles builds bundles for one device (deviceID > 0) or all
	// but except (0: none), removing the one-time keys it hands out
	// atomically, so no key is handed out twice. ErrNotFound for an unknown
	// account or device; all devices of a known account may be none.
	ClaimBundles(ctx context.Context, accountID string, deviceID, except uint32) (*Claim, error)
	// Bundles is ClaimBundles that hands out no one-time keys: each
	// device's bundle has its signed and last-resort keys only, and Left
	// counts the one-time keys it has.
	Bundles(ctx context.Context, accountID string, deviceID, except uint32) (*Claim, error)
}

// Claim is what ClaimBundles hands out, with the one-time keys each device
// has left afterwards.
type Claim struct {
	Bundle api.Bundle
	Left   []api.KeyCount // parallel to Bundle.Devices
}
