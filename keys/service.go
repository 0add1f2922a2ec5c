package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/bus"
	"github.com/hushmsg/hush/internal/httpx"
	"github.com/hushmsg/hush/internal/ratelimit"
)

// Config tunes the service.
type Config struct {
	// LowWater is the one-time key count under which a device is told to
	// upload more.
	LowWater int
	// BundleLimit bounds bundle fetches per requesting device.
	BundleLimit ratelimit.Limit
	// PairLimit bounds the fetches from one account of another account's
	// bundles that take one-time keys; TargetLimit bounds those of one
	// account's bundles from everyone. Past either, a fetch answers the
	// bundles without one-time keys (the signed and last-resort keys,
	// which are enough to start a session) and takes none.
	PairLimit   ratelimit.Limit
	TargetLimit ratelimit.Limit
}

// Service publishes and claims keys.
type Service struct {
	cfg                   Config
	store                 Store
	bus                   bus.Bus
	log                   *slog.Logger
	bundles, pair, target ratelimit.Limiter
}

// New returns a Service whose limits are shared through limits.
func New(cfg Config, store Store, b bus.Bus, log *slog.Logger, limits *ratelimit.Buckets) *Service {
	return &Service{cfg: cfg, store: store, bus: b, log: log,
		bundles: limits.Shared("bundles", cfg.BundleLimit),
		pair:    limits.Shared("bundle_pair", cfg.PairLimit),
		target:  limits.Shared("bundle_target", cfg.TargetLimit),
	}
}

// Upload checks and stores a device's keys: all or nothing.
func (s *Service) Upload(ctx context.Context, dev auth.Device, set *api.SetKeys) error {
	if len(set.PreKeys) > api.MaxPreKeysPerUpload || len(set.PQPreKeys) > api.MaxPreKeysPerUpload {
		return httpx.Errorf(http.StatusBadRequest, api.CodeTooManyKeys, "at most %d prekeys of each kind per upload", api.MaxPreKeysPerUpload)
	}
	ik, err := s.store.IdentityKey(ctx, dev.AccountID)
	if err != nil {
		return fmt.Errorf("identity key of %s: %w", dev.AccountID, err)
	}
	if set.SignedPreKey != nil {
		if err := CheckSigned(ik, "signed_prekey", set.SignedPreKey, false); err != nil {
			return err
		}
	}
	if set.PQLastResortPreKey != nil {
		if err := CheckSigned(ik, "pq_last_resort_prekey", set.PQLastResortPreKey, true); err != nil {
			return err
		}
	}
	for i := range set.PreKeys {
		if err := CheckECKey(fmt.Sprintf("prekeys[%d].public_key", i), set.PreKeys[i].PublicKey); err != nil {
			return err
		}
	}
	for i := range set.PQPreKeys {
		if err := CheckSigned(ik, fmt.Sprintf("pq_prekeys[%d]", i), &set.PQPreKeys[i], true); err != nil {
			return err
		}
	}
	if err := s.store.SetKeys(ctx, dev.AccountID, dev.DeviceID, set); err != nil {
		return fmt.Errorf("store keys of %s.%d: %w", dev.AccountID, dev.DeviceID, err)
	}
	return nil
}

// Count returns the device's one-time keys left.
func (s *Service) Count(ctx context.Context, dev auth.Device) (api.KeyCount, error) {
	return s.store.CountPreKeys(ctx, dev.AccountID, dev.DeviceID)
}

// LowKeysFrame returns the keys_low frame for c, or nil when c is above the
// low-water mark.
func (s *Service) LowKeysFrame(c api.KeyCount) []byte {
	if c.PreKeys >= s.cfg.LowWater && c.PQPreKeys >= s.cfg.LowWater {
		return nil
	}
	b, _ := wire.Encode(&wire.Frame{Type: wire.TypeKeysLow, PreKeys: &c.PreKeys, PQPreKeys: &c.PQPreKeys})
	return b
}

// Bundle claims bundles of account's device (0: every device) for requester.
func (s *Service) Bundle(ctx context.Context, requester auth.Device, accountID string, deviceID uint32) (*api.Bundle, error) {
	ok, wait, err := s.bundles.Take(ctx, requester.AccountID+"."+strconv.Itoa(int(requester.DeviceID)))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, httpx.RateLimited(wait, "bundle fetches")
	}
	// A device fetching its own account's bundles does not need, and must
	// not use up, its own keys.
	var except uint32
	if accountID == requester.AccountID && deviceID == 0 {
		except = requester.DeviceID
	}
	claim := s.store.ClaimBundles
	if ok, err := s.mayTakeOneTime(ctx, requester.AccountID, accountID); err != nil {
		return nil, err
	} else if !ok {
		claim = s.store.Bundles
	}
	c, err := claim(ctx, accountID, deviceID, except)
	if errors.Is(err, ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("claim bundles of %s: %w", accountID, err)
	}
	for i, left := range c.Left {
		if f := s.LowKeysFrame(left); f != nil {
			d := c.Bundle.Devices[i].DeviceID
			if err := s.bus.Publish(ctx, bus.Event{Kind: bus.KeysLow, Account: accountID, Device: d, Payload: f}); err != nil {
				s.log.WarnContext(ctx, "publish keys_low", "err", err)
			}
		}
	}
	return &c.Bundle, nil
}

// mayTakeOneTime reports whether a fetch by requester of target's bundles
// may take one-time keys: a token from the pair's bucket and one from the
// target's. Each fetch takes at most one key per device, so the target's
// limit bounds what any one device loses, whoever asks.
func (s *Service) mayTakeOneTime(ctx context.Context, requester, target string) (bool, error) {
	ok, _, err := s.pair.Take(ctx, requester+">"+target)
	if err != nil || !ok {
		return false, err
	}
	ok, _, err = s.target.Take(ctx, target)
	return ok, err
}

// Defaults returns the documented defaults.
func Defaults() Config {
	return Config{
		LowWater:    10,
		BundleLimit: ratelimit.Limit{Burst: 200, Per: time.Minute},
		PairLimit:   ratelimit.Limit{Burst: 10, Per: time.Hour},
		TargetLimit: ratelimit.Limit{Burst: 100, Per: time.Hour},
	}
}
