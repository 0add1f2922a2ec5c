package devices

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/bus"
	"github.com/hushmsg/hush/internal/httpx"
	"github.com/hushmsg/hush/internal/ratelimit"
	"github.com/hushmsg/hush/keys"
)

// Config tunes the service; Defaults gives the documented values.
type Config struct {
	CodeTTL         time.Duration
	CodeAttempts    int
	MaxDevices      int
	ProvisioningTTL time.Duration
	// ProvisioningSocketTTL is how long a provisioning socket waits for
	// its message before it is closed.
	ProvisioningSocketTTL time.Duration
	// MaxProvisioningPerAddr and MaxProvisioningSockets bound the
	// provisioning sockets open on a node from one client address and
	// in all (0: no bound).
	MaxProvisioningPerAddr int
	MaxProvisioningSockets int
	// TestNumbers maps a phone number to a fixed code: no SMS is sent for
	// them and any number shape that is E.164 is allowed.
	TestNumbers map[string]string

	CodePerNumber  ratelimit.Limit
	CodePerAddress ratelimit.Limit
	VerifyPerAddr  ratelimit.Limit
	DirectoryLimit ratelimit.Limit
	DirectoryDaily ratelimit.Limit
	// SMS budgets: codes sent per country calling code and in all.
	SMSPrefixHour, SMSPrefixDay ratelimit.Limit
	SMSHour, SMSDay             ratelimit.Limit

	// ReglockInactivity is how long a registration lock holds after the
	// account's last activity; past it the number may register without
	// the PIN (as a new account).
	ReglockInactivity time.Duration
	// ReglockAttempts bounds the registration lock tokens tried per
	// account in ReglockWindow.
	ReglockAttempts int
	ReglockWindow   time.Duration
	// SweepInterval is how often expired codes are deleted and replaced
	// accounts erased.
	SweepInterval time.Duration
	// Clock is the service's time (nil: time.Now); tests move it.
	Clock func() time.Time
}

// Defaults returns the documented defaults.
func Defaults() Config {
	return Config{
		CodeTTL:         10 * time.Minute,
		CodeAttempts:    5,
		MaxDevices:      6,
		ProvisioningTTL: 10 * time.Minute,
		CodePerNumber:   ratelimit.Limit{Burst: 3, Per: 10 * time.Minute},
		CodePerAddress:  ratelimit.Limit{Burst: 20, Per: time.Hour},
		VerifyPerAddr:   ratelimit.Limit{Burst: 30, Per: time.Hour},
		DirectoryLimit:  ratelimit.Limit{Burst: 100, Per: time.Minute},
		DirectoryDaily:  ratelimit.Limit{Burst: 2000, Per: 24 * time.Hour},
		SMSPrefixHour:   ratelimit.Limit{Burst: 200, Per: time.Hour},
		SMSPrefixDay:    ratelimit.Limit{Burst: 1000, Per: 24 * time.Hour},
		SMSHour:         ratelimit.Limit{Burst: 1000, Per: time.Hour},
		SMSDay:          ratelimit.Limit{Burst: 10000, Per: 24 * time.Hour},

		ProvisioningSocketTTL:  3 * time.Minute,
		MaxProvisioningPerAddr: 10,
		MaxProvisioningSockets: 1000,

		ReglockInactivity: 7 * 24 * time.Hour,
		ReglockAttempts:   10,
		ReglockWindow:     24 * time.Hour,
		SweepInterval:     time.Minute,
	}
}

// Service registers, links, lists, removes and authenticates devices.
type Service struct {
	cfg   Config
	store Store
	sms   SMSSender
	bus   bus.Bus
	log   *slog.Logger
	now   func() time.Time
	// retire erases accounts that lost their number (set once, before
	// serving).
	retire Retirer

	limits limits

	// Presence keeps last seen and online state.
	Presence *Presence

	mu        sync.Mutex             // guards the following fields
	waiting   map[string]chan []byte // provisioning sockets on this node
	provAddrs map[string]int         // provisioning sockets per client address
	provTotal int

	deniedProvAddr, deniedProvTotal func()
}

// New returns a Service whose limits are shared through rl.
func New(cfg Config, store Store, sms SMSSender, b bus.Bus, log *slog.Logger, rl *ratelimit.Buckets) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	s := &Service{
		cfg: cfg, store: store, sms: sms, bus: b, log: log, now: cfg.Clock,
		limits:   newLimits(cfg, rl),
		waiting:  make(map[string]chan []byte),
		Presence: newPresence(store, b, log),

		provAddrs:       make(map[string]int),
		deniedProvAddr:  rl.Denied("provisioning_per_address"),
		deniedProvTotal: rl.Denied("provisioning_sockets"),
	}
	b.Subscribe(s.onProvision)
	return s
}

// noIdentity is an identity key whose private half was dropped at start:
// nothing verifies against it.
var noIdentity = func() []byte {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return append([]byte{0x05}, k.PublicKey().Bytes()...)
}()

func hashSecret(parts ...string) []byte {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return h.Sum(nil)
}

func randomToken() Secret {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return Secret(base64.RawURLEncoding.EncodeToString(b))
}

func randomCode() Secret {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	return Secret(fmt.Sprintf("%06d", n.Int64()))
}

func checkDeviceKeys(identityKey []byte, d *api.DeviceKeys) error {
	if d.RegistrationID < 1 || d.RegistrationID > 16380 {
		return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "registration_id must be 1..16380")
	}
	if len(d.Name) > 256 || !utf8.ValidString(d.Name) || strings.ContainsFunc(d.Name, unicode.IsControl) {
		return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "name must be valid UTF-8 of at most 256 bytes without control characters")
	}
	if err := keys.CheckSigned(identityKey, "signed_prekey", &d.SignedPreKey, false); err != nil {
		return err
	}
	return keys.CheckSigned(identityKey, "pq_last_resort_prekey", &d.PQLastResortPreKey, true)
}

func (s *Service) newDevice(password Secret, k *api.DeviceKeys) NewDevice {
	return NewDevice{
		PasswordHash:       hashSecret(password.Reveal()),
		RegistrationID:     k.RegistrationID,
		Name:               k.Name,
		SignedPreKey:       k.SignedPreKey,
		PQLastResortPreKey: k.PQLastResortPreKey,
		Created:            s.now(),
	}
}

// Authenticate checks a device's credential and returns the device.
func (s *Service) Authenticate(ctx context.Context, user, password string) (auth.Device, error) {
	dev, ok := parseUser(user)
	if !ok {
		return auth.Device{}, errUnauthorized
	}
	cred, err := s.store.Credential(ctx, dev.AccountID, dev.DeviceID)
	if errors.Is(err, ErrNotFound) {
		// Hash anyway so that unknown and known devices take as long.
		subtle.ConstantTimeCompare(hashSecret(password), hashSecret(""))
		return auth.Device{}, errUnauthorized
	}
	if err != nil {
		return auth.Device{}, fmt.Errorf("load credential: %w", err)
	}
	if subtle.ConstantTimeCompare(cred.PasswordHash, hashSecret(password)) != 1 {
		return auth.Device{}, errUnauthorized
	}
	if day := dayOf(s.now()); cred.LastSeenDay < day {
		if err := s.store.TouchDevice(ctx, dev.AccountID, dev.DeviceID, day); err != nil {
			s.log.WarnContext(ctx, "touch device", "err", err)
		}
	}
	return dev, nil
}

func dayOf(t time.Time) int64 { return t.UTC().Truncate(24 * time.Hour).Unix() }

// NewProvisioningCode issues a one-use code the primary puts in its
// provisioning message.
func (s *Service) NewProvisioningCode(ctx context.Context, dev auth.Device) (Secret, error) {
	if !dev.Primary() {
		return "", errPrimaryOnly
	}
	code := randomToken()
	if err := s.store.PutProvisioningCode(ctx, dev.AccountID, hashSecret(dev.AccountID, code.Reveal()), s.now().Add(s.cfg.ProvisioningTTL)); err != nil {
		return "", fmt.Errorf("store provisioning code: %w", err)
	}
	return code, nil
}

// Link adds a device to an account with a provisioning code.
func (s *Service) Link(ctx context.Context, l *api.Link) (*api.Credentials, error) {
	account, err := httpx.AccountID(l.AccountID)
	if err != nil {
		return nil, err
	}
	// Whoever does not hold the account's identity key learns nothing
	// here, not even whether the account exists: an unknown account's
	// keys are checked against an identity nobody holds, so they fail as
	// any keys an outsider can sign fail for a real account.
	ik, err := s.store.IdentityKey(ctx, account)
	unknown := errors.Is(err, ErrNotFound)
	if err != nil && !unknown {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	if unknown {
		ik = noIdentity
	}
	if err := checkDeviceKeys(ik, &l.DeviceKeys); err != nil {
		return nil, err
	}
	if unknown {
		return nil, errInvalidCode
	}
	devs, err := s.store.Devices(ctx, account)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	if len(devs) >= s.cfg.MaxDevices {
		return nil, errTooManyDevices
	}
	ok, err := s.store.TakeProvisioningCode(ctx, account, hashSecret(account, l.ProvisioningCode), s.now())
	if err != nil {
		return nil, fmt.Errorf("take provisioning code: %w", err)
	}
	if !ok {
		return nil, errInvalidCode
	}
	password := randomToken()
	id, err := s.store.AddDevice(ctx, account, s.newDevice(password, &l.DeviceKeys), s.cfg.MaxDevices)
	switch {
	case errors.Is(err, ErrTooManyDevices):
		return nil, errTooManyDevices
	case errors.Is(err, ErrNotFound):
		return nil, errInvalidCode
	case err != nil:
		return nil, fmt.Errorf("add device: %w", err)
	}
	s.devicesChanged(ctx, account)
	s.log.InfoContext(ctx, "device linked", "account", account, "device", id)
	return &api.Credentials{AccountID: account, DeviceID: id, Password: password.Reveal()}, nil
}

// Erased closes the erased account's device sockets on every node and
// drops what nodes cached about its devices.
func (s *Service) Erased(ctx context.Context, account string) {
	if err := s.bus.Publish(ctx, bus.Event{Kind: bus.Removed, Account: account}); err != nil {
		s.log.WarnContext(ctx, "publish removal", "err", err)
	}
	s.devicesChanged(ctx, account)
}

// devicesChanged tells every node that account's devices changed, so that
// none goes on checking sends against a list it cached before.
func (s *Service) devicesChanged(ctx context.Context, account string) {
	if err := s.bus.Publish(ctx, bus.Event{Kind: bus.DevicesChanged, Account: account}); err != nil {
		s.log.WarnContext(ctx, "publish device change", "err", err)
	}
}

// List returns the account's devices.
func (s *Service) List(ctx context.Context, dev auth.Device) ([]api.Device, error) {
	ds, err := s.store.Devices(ctx, dev.AccountID)
	if err != nil {
		return nil, err
	}
	out := make([]api.Device, 0, len(ds))
	for _, d := range ds {
		out = append(out, api.Device{DeviceID: d.ID, Name: d.Name, Created: d.Created.Unix(), LastSeen: d.LastSeenDay})
	}
	return out, nil
}

// Remove deletes target from dev's account: the primary may remove any other
// device, any device itself; the primary cannot be removed.
func (s *Service) Remove(ctx context.Context, dev auth.Device, target uint32) error {
	if target == auth.PrimaryDeviceID || (!dev.Primary() && target != dev.DeviceID) {
		return httpx.Errorf(http.StatusForbidden, api.CodeForbidden, "not allowed to remove device %d", target)
	}
	err := s.store.RemoveDevice(ctx, dev.AccountID, target)
	if errors.Is(err, ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return fmt.Errorf("remove device %d: %w", target, err)
	}
	if err := s.bus.Publish(ctx, bus.Event{Kind: bus.Removed, Account: dev.AccountID, Device: target}); err != nil {
		s.log.WarnContext(ctx, "publish removal", "err", err)
	}
	s.devicesChanged(ctx, dev.AccountID)
	s.log.InfoContext(ctx, "device removed", "account", dev.AccountID, "device", target)
	return nil
}

// Expire removes a linked device that retention found inactive, as if
// the account's primary had removed it.
func (s *Service) Expire(ctx context.Context, account string, device uint32) error {
	return s.Remove(ctx, auth.Device{AccountID: account, DeviceID: auth.PrimaryDeviceID}, device)
}

// Lookup returns the account id registered for number.
func (s *Service) Lookup(ctx context.Context, dev auth.Device, number string) (string, error) {
	if err := take(ctx, s.limits.directory, dev.AccountID, "directory lookups"); err != nil {
		return "", err
	}
	if err := take(ctx, s.limits.directoryDay, dev.AccountID, "directory lookups today"); err != nil {
		return "", err
	}
	if err := CheckNumber(number, s.cfg.TestNumbers); err != nil {
		return "", err
	}
	id, err := s.store.AccountByNumber(ctx, number)
	if errors.Is(err, ErrNotFound) {
		return "", errNotFound
	}
	return id, err
}
