package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/envelope"
	"github.com/hushmsg/hush/internal/api"
)

func registration(number string, reg uint32) devices.Registration {
	return devices.Registration{Number: number, NewID: uuid.NewString(), IdentityKey: random(33), Primary: newDevice(reg)}
}

func testRegister(t *testing.T, s Store) {
	ctx := context.Background()
	const number = "+15550001111"
	r := registration(number, 7)
	res, err := s.Register(ctx, r)
	check(t, err)
	equal(t, "new account id", res.AccountID, r.NewID)
	equal(t, "replaced", res.Replaced, "")
	id := res.AccountID
	got, err := s.AccountByNumber(ctx, number)
	check(t, err)
	equal(t, "directory", got, id)
	_, err = s.AddDevice(ctx, id, newDevice(8), 6)
	check(t, err)
	check(t, s.SetKeys(ctx, id, 2, &api.SetKeys{PreKeys: []api.PreKey{{KeyID: 1, PublicKey: random(33)}}}))
	check(t, s.Insert(ctx, []envelope.Stored{{AccountID: id, DeviceID: 2, ID: uuid.New(), SourceAccount: id, SourceDevice: 1, Type: 1, Content: []byte("x"), Expires: time.Now().Add(time.Hour)}}, envelope.Quota{}))

	// The holder proved its lock: the account stays, its devices go.
	keep := registration(number, 9)
	keep.Keep = id
	res, err = s.Register(ctx, keep)
	check(t, err)
	equal(t, "kept account id", res.AccountID, id)
	equal(t, "replaced when kept", res.Replaced, "")
	ik, err := s.IdentityKey(ctx, id)
	check(t, err)
	equal(t, "identity key replaced", string(ik), string(keep.IdentityKey))
	ds, err := s.Devices(ctx, id)
	check(t, err)
	equal(t, "devices after re-registration", len(ds), 1)
	equal(t, "primary registration id", ds[0].RegistrationID, uint32(9))
	if _, err := s.Credential(ctx, id, 2); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("old device credential: err = %v, want ErrNotFound", err)
	}
	envs, err := s.Fetch(ctx, id, 2, 0, 10)
	check(t, err)
	equal(t, "old device envelopes", len(envs), 0)
	next, err := s.AddDevice(ctx, id, newDevice(3), 6)
	check(t, err)
	equal(t, "first linked device after re-registration", next, uint32(2))
	check(t, s.PutProvisioningCode(ctx, id, []byte("pc"), time.Now().Add(time.Hour)))

	// Without the lock the number gets a new account; the old one loses
	// the number, its devices and codes at once and waits for erasure.
	fresh := registration(number, 11)
	res, err = s.Register(ctx, fresh)
	check(t, err)
	equal(t, "new account for the number", res.AccountID, fresh.NewID)
	equal(t, "replaced account", res.Replaced, id)
	got, err = s.AccountByNumber(ctx, number)
	check(t, err)
	equal(t, "directory after replacement", got, fresh.NewID)
	ds, err = s.Devices(ctx, id)
	check(t, err)
	equal(t, "devices of the replaced account", len(ds), 0)
	if _, err := s.Credential(ctx, id, 1); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("replaced primary's credential: err = %v, want ErrNotFound", err)
	}
	if ok, err := s.TakeProvisioningCode(ctx, id, []byte("pc"), time.Now()); err != nil || ok {
		t.Fatalf("replaced account's provisioning code: %v %v", ok, err)
	}
	replaced, err := s.ReplacedAccounts(ctx, 10)
	check(t, err)
	equal(t, "replaced accounts", len(replaced), 1)
	equal(t, "replaced account listed", replaced[0], id)
	if _, err := s.AccountByNumber(ctx, "+15559999999"); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("unknown number: err = %v", err)
	}
}

func testRegisterLocked(t *testing.T, s Store) {
	ctx := context.Background()
	const number = "+15550001112"
	r := registration(number, 1)
	res, err := s.Register(ctx, r)
	check(t, err)
	id := res.AccountID
	check(t, s.SetLastSeen(ctx, id, time.Now().Unix()/60*60))
	check(t, s.SetRegistrationLock(ctx, id, devices.RegistrationLock{TokenHash: random(32), Salt: random(32), Created: time.Now()}))

	h, err := s.NumberHolder(ctx, number)
	check(t, err)
	equal(t, "holder", h.AccountID, id)
	if h.Lock == nil {
		t.Fatal("holder has no lock")
	}
	active := h.LastActive

	// Active since the cutoff: not replaced, and nothing changed.
	other := registration(number, 2)
	other.LockedSince = active
	if _, err := s.Register(ctx, other); !errors.Is(err, devices.ErrRegistrationLocked) {
		t.Fatalf("register a locked number: err = %v, want ErrRegistrationLocked", err)
	}
	got, err := s.AccountByNumber(ctx, number)
	check(t, err)
	equal(t, "directory after refused registration", got, id)
	ds, err := s.Devices(ctx, id)
	check(t, err)
	equal(t, "devices after refused registration", len(ds), 1)
	if _, err := s.IdentityKey(ctx, other.NewID); err == nil {
		t.Fatal("refused registration left an account")
	}

	// Inactive since before the cutoff: the lock has lapsed.
	other.LockedSince = active.Add(time.Minute)
	res, err = s.Register(ctx, other)
	check(t, err)
	equal(t, "replaced after the lock lapsed", res.Replaced, id)

	// A lock of a removed account is gone with it.
	check(t, s.DeleteRegistrationLock(ctx, uuid.NewString()))
	if err := s.SetRegistrationLock(ctx, uuid.NewString(), devices.RegistrationLock{TokenHash: random(32), Salt: random(32), Created: time.Now()}); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("lock of an unknown account: err = %v, want ErrNotFound", err)
	}
}

func testRegistrationCodes(t *testing.T, s Store) {
	ctx := context.Background()
	const n = "+15550002222"
	now := time.Now()
	if _, err := s.RegistrationCode(ctx, n); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("no code yet: err = %v", err)
	}
	if _, err := s.TakeCodeAttempt(ctx, n, now, 3); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("try without a code: err = %v", err)
	}
	exp := now.Add(10 * time.Minute).Truncate(time.Second)
	check(t, s.PutRegistrationCode(ctx, n, devices.RegistrationCode{Hash: []byte("h1"), Expires: exp}))
	for want := 1; want <= 3; want++ {
		c, err := s.TakeCodeAttempt(ctx, n, now, 3)
		check(t, err)
		equal(t, "attempts", c.Attempts, want)
		equal(t, "hash", string(c.Hash), "h1")
		equal(t, "expires", c.Expires.Unix(), exp.Unix())
	}
	if _, err := s.TakeCodeAttempt(ctx, n, now, 3); !errors.Is(err, devices.ErrTooManyAttempts) {
		t.Fatalf("fourth try of three: err = %v", err)
	}
	c, err := s.RegistrationCode(ctx, n)
	check(t, err)
	equal(t, "attempts stop at the limit", c.Attempts, 3)
	if _, err := s.TakeCodeAttempt(ctx, n, exp.Add(time.Second), 5); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("try after expiry: err = %v", err)
	}
	// A new code resets the attempts.
	check(t, s.PutRegistrationCode(ctx, n, devices.RegistrationCode{Hash: []byte("h2"), Expires: exp}))
	c, err = s.RegistrationCode(ctx, n)
	check(t, err)
	equal(t, "attempts after new code", c.Attempts, 0)
	equal(t, "hash", string(c.Hash), "h2")

	// Registering takes the code only if it is still the one checked.
	r := registration(n, 1)
	r.CodeHash = []byte("h1")
	if _, err := s.Register(ctx, r); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("register with a replaced code: err = %v, want ErrNotFound", err)
	}
	r.CodeHash = []byte("h2")
	_, err = s.Register(ctx, r)
	check(t, err)
	if _, err := s.RegistrationCode(ctx, n); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("code after registration: err = %v, want ErrNotFound", err)
	}
	r2 := registration(n, 2)
	r2.CodeHash = []byte("h2")
	if _, err := s.Register(ctx, r2); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("register twice with one code: err = %v, want ErrNotFound", err)
	}

	// Expired codes are swept, others stay.
	check(t, s.PutRegistrationCode(ctx, "+15550002223", devices.RegistrationCode{Hash: []byte("old"), Expires: now.Add(-time.Minute)}))
	check(t, s.PutRegistrationCode(ctx, "+15550002224", devices.RegistrationCode{Hash: []byte("new"), Expires: now.Add(time.Minute)}))
	swept, err := s.DeleteExpiredRegistrationCodes(ctx, now)
	check(t, err)
	equal(t, "codes swept", swept, int64(1))
	if _, err := s.RegistrationCode(ctx, "+15550002223"); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("expired code after the sweep: err = %v", err)
	}
	_, err = s.RegistrationCode(ctx, "+15550002224")
	check(t, err)
}

// testConcurrentCodeAttempts: of many concurrent tries, exactly the
// allowed number get the code.
func testConcurrentCodeAttempts(t *testing.T, s Store) {
	ctx := context.Background()
	const n, tries, allowed = "+15550002225", 30, 5
	check(t, s.PutRegistrationCode(ctx, n, devices.RegistrationCode{Hash: []byte("h"), Expires: time.Now().Add(time.Hour)}))
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for range tries {
		wg.Go(func() {
			_, err := s.TakeCodeAttempt(ctx, n, time.Now(), allowed)
			outcome := "ok"
			switch {
			case errors.Is(err, devices.ErrTooManyAttempts):
				outcome = "too many"
			case err != nil:
				outcome = err.Error()
			}
			mu.Lock()
			got[outcome]++
			mu.Unlock()
		})
	}
	wg.Wait()
	equal(t, "tries that got the code", got["ok"], allowed)
	equal(t, "tries refused", got["too many"], tries-allowed)
}

func testRegistrationLocks(t *testing.T, s Store) {
	ctx := context.Background()
	const number = "+15550002226"
	res, err := s.Register(ctx, registration(number, 1))
	check(t, err)
	id := res.AccountID
	now := time.Now().Truncate(time.Second)
	if _, err := s.TakeLockAttempt(ctx, id, now, time.Hour, 3); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("try without a lock: err = %v", err)
	}
	lock := devices.RegistrationLock{TokenHash: []byte("t1"), Salt: []byte("s1"), Created: now}
	check(t, s.SetRegistrationLock(ctx, id, lock))
	var l devices.RegistrationLock
	for want := 1; want <= 3; want++ {
		l, err = s.TakeLockAttempt(ctx, id, now, time.Hour, 3)
		check(t, err)
		equal(t, "tries", l.Failures, want)
		equal(t, "token hash", string(l.TokenHash), "t1")
		equal(t, "salt", string(l.Salt), "s1")
		equal(t, "window start", l.FailuresSince.Unix(), now.Unix())
	}
	if _, err := s.TakeLockAttempt(ctx, id, now.Add(59*time.Minute), time.Hour, 3); !errors.Is(err, devices.ErrTooManyAttempts) {
		t.Fatalf("fourth try of three in the window: err = %v", err)
	}
	// A new window starts once the old one ended.
	l, err = s.TakeLockAttempt(ctx, id, now.Add(time.Hour), time.Hour, 3)
	check(t, err)
	equal(t, "tries in a new window", l.Failures, 1)
	check(t, s.ResetLockAttempts(ctx, id))
	l, err = s.TakeLockAttempt(ctx, id, now.Add(time.Hour), time.Hour, 3)
	check(t, err)
	equal(t, "tries after a reset", l.Failures, 1)

	// Setting again replaces the lock and its count.
	check(t, s.SetRegistrationLock(ctx, id, devices.RegistrationLock{TokenHash: []byte("t2"), Salt: []byte("s2"), Created: now}))
	h, err := s.NumberHolder(ctx, number)
	check(t, err)
	equal(t, "holder's lock salt", string(h.Lock.Salt), "s2")
	equal(t, "tries after setting again", h.Lock.Failures, 0)
	check(t, s.DeleteRegistrationLock(ctx, id))
	h, err = s.NumberHolder(ctx, number)
	check(t, err)
	equal(t, "lock after delete", h.Lock == nil, true)
	if _, err := s.NumberHolder(ctx, "+15559999998"); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("holder of an unknown number: err = %v", err)
	}
}

func testConcurrentLockAttempts(t *testing.T, s Store) {
	ctx := context.Background()
	id := register(t, s, 1)
	check(t, s.SetRegistrationLock(ctx, id, devices.RegistrationLock{TokenHash: []byte("t"), Salt: []byte("s"), Created: time.Now()}))
	const tries, allowed = 30, 10
	var mu sync.Mutex
	ok := 0
	var wg sync.WaitGroup
	for range tries {
		wg.Go(func() {
			_, err := s.TakeLockAttempt(ctx, id, time.Now(), time.Hour, allowed)
			if err != nil && !errors.Is(err, devices.ErrTooManyAttempts) {
				t.Error(err)
			}
			mu.Lock()
			if err == nil {
				ok++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	equal(t, "tries that got the lock", ok, allowed)
}
