package devices

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/bus"
	"github.com/hushmsg/hush/internal/httpx"
	"github.com/hushmsg/hush/keys"
)

// Retirer erases an account whose number was registered anew without its
// registration lock (gdpr's erasure, wired by the server).
type Retirer interface {
	Retire(ctx context.Context, account string) error
}

// SetRetirer wires the erasure of replaced accounts; call it before
// serving.
func (s *Service) SetRetirer(r Retirer) { s.retire = r }

// Registration lock sizes.
const (
	ReglockTokenSize = 32
	ReglockSaltSize  = 32
)

// RequestCode sends a new code to number (none for a test number).
func (s *Service) RequestCode(ctx context.Context, number, clientAddr string) (time.Duration, error) {
	if err := CheckNumber(number, s.cfg.TestNumbers); err != nil {
		return 0, err
	}
	if err := take(ctx, s.limits.codeAddr, clientAddr, "code requests from this address"); err != nil {
		return 0, err
	}
	if err := take(ctx, s.limits.codeNumber, number, "code requests for this number"); err != nil {
		return 0, err
	}
	if _, ok := s.cfg.TestNumbers[number]; ok {
		return s.cfg.CodeTTL, nil
	}
	if _, ok := s.sms.(NoSMS); ok {
		return 0, errNoSMS
	}
	if err := s.limits.smsBudget(ctx, number); err != nil {
		return 0, err
	}
	code := randomCode()
	m := CodeMessage{ID: uuid.NewString(), Number: number, Code: code, Expires: s.now().Add(s.cfg.CodeTTL)}
	rc := RegistrationCode{Hash: hashSecret(number, code.Reveal()), Expires: m.Expires}
	if err := s.store.PutRegistrationCode(ctx, number, rc); err != nil {
		return 0, fmt.Errorf("store code: %w", err)
	}
	if err := s.sms.SendCode(ctx, m); err != nil {
		if errors.Is(err, ErrSMSRejected) || errors.Is(err, ErrSMSUnavailable) {
			e := httpx.Errorf(http.StatusServiceUnavailable, api.CodeSMSUnavailable, "the SMS gateway did not take the code; try again later")
			e.Body.RetryAfter = 30
			return 0, e
		}
		return 0, fmt.Errorf("send code to %s: %w", maskNumber(number), err)
	}
	return s.cfg.CodeTTL, nil
}

// Verify checks number's code (and, when the number's account has one,
// its registration lock) and registers the number: as a new account, or
// as the same account when its holder proved the lock.
func (s *Service) Verify(ctx context.Context, v *api.Verify, clientAddr string) (*api.Credentials, error) {
	if err := CheckNumber(v.Number, s.cfg.TestNumbers); err != nil {
		return nil, err
	}
	if err := take(ctx, s.limits.verifyAddr, clientAddr, "verification attempts from this address"); err != nil {
		return nil, err
	}
	if err := keys.CheckECKey("identity_key", v.IdentityKey); err != nil {
		return nil, err
	}
	if err := checkDeviceKeys(v.IdentityKey, &v.DeviceKeys); err != nil {
		return nil, err
	}
	if v.RegistrationLock != nil && len(v.RegistrationLock) != ReglockTokenSize {
		return nil, httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "registration_lock must be %d bytes", ReglockTokenSize)
	}
	codeHash, err := s.takeCode(ctx, v.Number, v.Code)
	if err != nil {
		return nil, err
	}
	now := s.now()
	reg := Registration{Number: v.Number, CodeHash: codeHash, NewID: uuid.NewString(), IdentityKey: v.IdentityKey,
		LockedSince: now.Add(-s.cfg.ReglockInactivity)}
	holder, err := s.store.NumberHolder(ctx, v.Number)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("number holder: %w", err)
	case holder.Lock != nil && !holder.LastActive.Before(reg.LockedSince):
		if err := s.checkLock(ctx, holder, v.RegistrationLock); err != nil {
			return nil, err
		}
		reg.Keep = holder.AccountID
	}
	password := randomToken()
	reg.Primary = s.newDevice(password, &v.DeviceKeys)
	res, err := s.store.Register(ctx, reg)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, errInvalidCode // another verification used the code
	case errors.Is(err, ErrRegistrationLocked):
		// The holder set a lock since it was read: answer as if read now.
		if holder, err = s.store.NumberHolder(ctx, v.Number); err == nil && holder.Lock != nil {
			return nil, s.lockedError(holder, holder.Lock.Failures)
		}
		return nil, errInvalidCode
	case err != nil:
		return nil, fmt.Errorf("register: %w", err)
	}
	s.forgetCode(v.Number)
	if res.Replaced != "" {
		s.replaced(ctx, res.Replaced)
	}
	if res.AccountID == reg.Keep {
		// The kept account lost every old device: close their sockets.
		// The new primary has none yet.
		if err := s.bus.Publish(ctx, bus.Event{Kind: bus.Removed, Account: res.AccountID}); err != nil {
			s.log.WarnContext(ctx, "publish removal", "err", err)
		}
		if err := s.store.ResetLockAttempts(ctx, res.AccountID); err != nil {
			s.log.WarnContext(ctx, "reset registration lock tries", "err", err)
		}
	}
	s.devicesChanged(ctx, res.AccountID)
	s.log.InfoContext(ctx, "account registered", "account", res.AccountID, "kept", res.AccountID == reg.Keep, "replaced", res.Replaced)
	return &api.Credentials{AccountID: res.AccountID, DeviceID: auth.PrimaryDeviceID, Password: password.Reveal()}, nil
}

// takeCode counts a try of number's code before comparing it, and
// returns the code's hash when it is right (nil for a test number).
func (s *Service) takeCode(ctx context.Context, number, code string) ([]byte, error) {
	if fixed, ok := s.cfg.TestNumbers[number]; ok {
		if subtle.ConstantTimeCompare([]byte(fixed), []byte(code)) != 1 {
			return nil, errInvalidCode
		}
		return nil, nil
	}
	rc, err := s.store.TakeCodeAttempt(ctx, number, s.now(), s.cfg.CodeAttempts)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, errInvalidCode
	case errors.Is(err, ErrTooManyAttempts):
		return nil, errTooManyTries
	case err != nil:
		return nil, fmt.Errorf("take code attempt: %w", err)
	}
	want := hashSecret(number, code)
	if subtle.ConstantTimeCompare(rc.Hash, want) != 1 {
		return nil, errInvalidCode
	}
	return rc.Hash, nil
}

// checkLock checks a registration lock token against holder's lock, each
// try counted before the comparison.
func (s *Service) checkLock(ctx context.Context, h Holder, token []byte) error {
	if token == nil {
		return s.lockedError(h, h.Lock.Failures)
	}
	l, err := s.store.TakeLockAttempt(ctx, h.AccountID, s.now(), s.cfg.ReglockWindow, s.cfg.ReglockAttempts)
	switch {
	case errors.Is(err, ErrTooManyAttempts):
		wait := h.Lock.FailuresSince.Add(s.cfg.ReglockWindow).Sub(s.now())
		e := httpx.Errorf(http.StatusTooManyRequests, api.CodeTooManyAttempts, "registration lock tried too often; retry in %d s", int(wait.Seconds())+1)
		e.Body.RetryAfter = int(wait.Seconds()) + 1
		return e
	case errors.Is(err, ErrNotFound):
		return nil // the lock was removed meanwhile
	case err != nil:
		return fmt.Errorf("take registration lock attempt: %w", err)
	}
	if subtle.ConstantTimeCompare(l.TokenHash, hashToken(token)) != 1 {
		h.Lock = &l
		s.log.InfoContext(ctx, "wrong registration lock token", "account", h.AccountID)
		return s.lockedError(h, l.Failures)
	}
	return nil
}

// lockedError is the 423 answer: no account data, only what a client
// that knows the PIN needs.
func (s *Service) lockedError(h Holder, failures int) error {
	left := h.LastActive.Add(s.cfg.ReglockInactivity).Sub(s.now())
	e := httpx.Errorf(http.StatusLocked, api.CodeRegistrationLocked, "this number's account has a registration lock: send the token derived from its PIN")
	if failures > 0 && !h.Lock.FailuresSince.Add(s.cfg.ReglockWindow).After(s.now()) {
		failures = 0 // the window of that count has ended
	}
	e.Body.RegistrationLock = &api.RegistrationLocked{
		Salt:              h.Lock.Salt,
		TimeRemaining:     int64(max(left, 0).Seconds()),
		AttemptsRemaining: max(s.cfg.ReglockAttempts-failures, 0),
	}
	return e
}

// hashToken is what the store keeps of a registration lock token: the
// token is 32 bytes from a key derivation, so one SHA-256 (domain
// separated) is as strong as a slow hash here.
func hashToken(token []byte) []byte {
	h := sha256.New()
	h.Write([]byte("hush registration lock v1\x00"))
	h.Write(token)
	return h.Sum(nil)
}

// forgetCode tells a sender that keeps codes (the dev outbox) that
// number's code is used.
func (s *Service) forgetCode(number string) {
	if k, ok := s.sms.(codeKeeper); ok {
		if err := k.Forget(number); err != nil {
			s.log.Warn("dev outbox", "err", err)
		}
	}
}

// replaced closes the replaced account's sockets and erases it; what
// fails here the sweeper finishes (ReplacedAccounts).
func (s *Service) replaced(ctx context.Context, account string) {
	if err := s.bus.Publish(ctx, bus.Event{Kind: bus.Removed, Account: account}); err != nil {
		s.log.WarnContext(ctx, "publish removal", "err", err)
	}
	s.devicesChanged(ctx, account)
	if s.retire == nil {
		return
	}
	if err := s.retire.Retire(context.WithoutCancel(ctx), account); err != nil {
		s.log.WarnContext(ctx, "erase replaced account (the sweeper retries)", "account", account, "err", err)
	}
}

// SetRegistrationLock sets the account's registration lock; only the
// primary device may.
func (s *Service) SetRegistrationLock(ctx context.Context, dev auth.Device, req *api.SetRegistrationLock) error {
	if !dev.Primary() {
		return errPrimaryOnly
	}
	if len(req.Token) != ReglockTokenSize || len(req.Salt) != ReglockSaltSize {
		return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "token and salt must be %d bytes each", ReglockTokenSize)
	}
	err := s.store.SetRegistrationLock(ctx, dev.AccountID, RegistrationLock{TokenHash: hashToken(req.Token), Salt: req.Salt, Created: s.now()})
	if errors.Is(err, ErrNotFound) {
		return errUnauthorized
	}
	if err != nil {
		return fmt.Errorf("set registration lock: %w", err)
	}
	s.log.InfoContext(ctx, "registration lock set", "account", dev.AccountID)
	return nil
}

// DeleteRegistrationLock removes the account's registration lock; only
// the primary device may.
func (s *Service) DeleteRegistrationLock(ctx context.Context, dev auth.Device) error {
	if !dev.Primary() {
		return errPrimaryOnly
	}
	if err := s.store.DeleteRegistrationLock(ctx, dev.AccountID); err != nil {
		return fmt.Errorf("delete registration lock: %w", err)
	}
	s.log.InfoContext(ctx, "registration lock removed", "account", dev.AccountID)
	return nil
}

// RunSweeper sweeps every SweepInterval until ctx ends. Several nodes may
// sweep at once: every step is safe to repeat.
func (s *Service) RunSweeper(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("registration sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// replacedBatch bounds the replaced accounts one sweep erases.
const replacedBatch = 100

// Sweep deletes expired codes (and their outbox lines) and erases
// replaced accounts whose erasure did not finish when they were replaced.
func (s *Service) Sweep(ctx context.Context) error {
	now := s.now()
	n, err := s.store.DeleteExpiredRegistrationCodes(ctx, now)
	if err != nil {
		return fmt.Errorf("delete expired codes: %w", err)
	}
	if n > 0 {
		s.log.Debug("expired registration codes deleted", "count", n)
	}
	if k, ok := s.sms.(codeKeeper); ok {
		if err := k.Expire(now); err != nil {
			return fmt.Errorf("dev outbox: %w", err)
		}
	}
	if s.retire == nil {
		return nil
	}
	accounts, err := s.store.ReplacedAccounts(ctx, replacedBatch)
	if err != nil {
		return fmt.Errorf("replaced accounts: %w", err)
	}
	var errs []error
	for _, a := range accounts {
		if err := s.retire.Retire(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
