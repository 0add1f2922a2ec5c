package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hushmsg/hush/push"
)

func testPush(t *testing.T, s Store) {
	ctx := context.Background()
	a := register(t, s, 2)
	now := time.Unix(time.Now().Unix(), 0)
	if _, err := s.PushRegistration(ctx, a, 1); !errors.Is(err, push.ErrNotFound) {
		t.Fatalf("no registration yet: %v", err)
	}
	if err := s.PutPushRegistration(ctx, a, 9, "fcm", []byte(`{}`), now); !errors.Is(err, push.ErrUnknownDevice) {
		t.Fatalf("unknown device: %v", err)
	}
	check(t, s.PutPushRegistration(ctx, a, 1, "fcm", []byte(`{"token":"one"}`), now))
	st, ok, err := s.ClaimWake(ctx, a, 2, now, now.Add(-time.Minute))
	check(t, err)
	equal(t, "claim without a registration", ok, false)

	st, ok, err = s.ClaimWake(ctx, a, 1, now, now.Add(-time.Minute))
	check(t, err)
	equal(t, "first claim", ok, true)
	equal(t, "claimed kind", st.Kind, "fcm")
	equal(t, "claimed data", string(st.Data), `{"token":"one"}`)
	_, ok, err = s.ClaimWake(ctx, a, 1, now.Add(time.Second), now.Add(time.Second-time.Minute))
	check(t, err)
	equal(t, "second claim within the interval", ok, false)
	_, ok, err = s.ClaimWake(ctx, a, 1, now.Add(2*time.Minute), now.Add(time.Minute))
	check(t, err)
	equal(t, "claim after the interval", ok, true)
	check(t, s.ResetWake(ctx, a, 1))
	check(t, s.ResetWake(ctx, a, 2)) // no registration: nothing to do
	_, ok, err = s.ClaimWake(ctx, a, 1, now.Add(2*time.Minute), now.Add(time.Minute))
	check(t, err)
	equal(t, "claim after a connect", ok, true)

	// Replacing resets the claim; a stale "gone" does not delete the new one.
	check(t, s.PutPushRegistration(ctx, a, 1, "apns", []byte(`{"token":"two"}`), now.Add(time.Hour)))
	got, err := s.PushRegistration(ctx, a, 1)
	check(t, err)
	equal(t, "replaced kind", got.Kind, "apns")
	equal(t, "created kept", got.Created.Unix(), now.Unix())
	equal(t, "updated", got.Updated.Unix(), now.Add(time.Hour).Unix())
	equal(t, "claim reset", got.Woken.IsZero(), true)
	check(t, s.DeletePushRegistration(ctx, a, 1, []byte(`{"token":"one"}`)))
	equal(t, "still registered", stat(t, s, "push_registrations"), 1)
	check(t, s.DeletePushRegistration(ctx, a, 1, []byte(`{"token":"two"}`)))
	equal(t, "gone", stat(t, s, "push_registrations"), 0)

	// A removed device takes its registration with it.
	check(t, s.PutPushRegistration(ctx, a, 2, "fcm", []byte(`{}`), now))
	check(t, s.RemoveDevice(ctx, a, 2))
	equal(t, "removed with the device", stat(t, s, "push_registrations"), 0)
	check(t, s.DeletePushRegistration(ctx, a, 2, nil))
}

// testConcurrentWakeClaims: of many claims at once, exactly one wins.
func testConcurrentWakeClaims(t *testing.T, s Store) {
	ctx := context.Background()
	a := register(t, s, 1)
	now := time.Now()
	check(t, s.PutPushRegistration(ctx, a, 1, "fcm", []byte(`{}`), now))
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := s.ClaimWake(ctx, a, 1, now, now.Add(-time.Hour))
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	equal(t, "claims won", won.Load(), int32(1))
}
