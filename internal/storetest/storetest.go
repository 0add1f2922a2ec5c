// Package storetest is the conformance suite every store backend passes:
// the same table of behaviours run against SQLite and PostgreSQL, so that
// the domain packages can rely on the Store contracts and not on a backend.
package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/attachments"
	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/envelope"
	"github.com/hushmsg/hush/gdpr"
	"github.com/hushmsg/hush/groups"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/ratelimit"
	"github.com/hushmsg/hush/keys"
	"github.com/hushmsg/hush/push"
)

// Store is every interface a backend implements.
type Store interface {
	devices.Store
	keys.Store
	envelope.Store
	groups.Store
	attachments.Store
	push.Store
	gdpr.Store
	ratelimit.Store
	gdpr.AccountStore
	Stats(ctx context.Context) (map[string]int64, error)
}

// Run runs the suite; open returns an empty store for one subtest.
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"RegisterKeepAndReplace", testRegister},
		{"RegistrationLockBlocksReplacement", testRegisterLocked},
		{"RegistrationCodes", testRegistrationCodes},
		{"ConcurrentCodeAttemptsAreCounted", testConcurrentCodeAttempts},
		{"RegistrationLocks", testRegistrationLocks},
		{"ConcurrentLockAttemptsAreCounted", testConcurrentLockAttempts},
		{"AddDeviceLimitAndIDs", testAddDevice},
		{"RemoveDeviceCascades", testRemoveDevice},
		{"ProvisioningCodes", testProvisioningCodes},
		{"KeysAndClaims", testClaims},
		{"ConcurrentClaimsNeverShareAKey", testConcurrentClaims},
		{"ClaimStormMixedDevicesAndMisses", testClaimStorm},
		{"ConcurrentCredentialReads", testConcurrentCredentials},
		{"MailboxOrderAckExpiry", testMailbox},
		{"InsertSkipsRemovedDevice", testInsertSkipsRemoved},
		{"SharedPayloadReleasedByLastAck", testSharedPayload},
		{"GroupChangeWithNotices", testGroupChange},
		{"AttachmentLifecycle", testAttachments},
		{"PushRegistrationsAndWakeClaims", testPush},
		{"ConcurrentWakeClaimsOneWins", testConcurrentWakeClaims},
		{"AdminTokensRequestsAudit", testGDPR},
		{"ConcurrentAuditAppendsChain", testConcurrentAudit},
		{"RateLimits", testRateLimits},
		{"MailboxQuota", testMailboxQuota},
		{"BundlesKeepOneTimeKeys", testBundlesKeepKeys},
		{"ConcurrentFirstPseudonyms", testConcurrentFirstPseudonyms},
		{"SendsRacingErasureLeaveNothing", testSendEraseRace},
		{"ErasureBlocksFirst", testEraseBlocksFirst},
		{"ErasureRedactsRequests", testEraseRedactsRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func signed(id uint32) api.SignedPreKey {
	return api.SignedPreKey{KeyID: id, PublicKey: random(33), Signature: random(64)}
}

func newDevice(reg uint32) devices.NewDevice {
	return devices.NewDevice{
		PasswordHash: random(32), RegistrationID: reg, Name: "dev",
		SignedPreKey: signed(1), PQLastResortPreKey: signed(2), Created: time.Now(),
	}
}

// register creates an account with primary device 1 and n-1 more devices.
func register(t *testing.T, s Store, n int) string {
	t.Helper()
	ctx := context.Background()
	id := Account(t, s)
	for i := 1; i < n; i++ {
		_, err := s.AddDevice(ctx, id, newDevice(uint32(i+1)), 10)
		check(t, err)
	}
	return id
}

func testAddDevice(t *testing.T, s Store) {
	ctx := context.Background()
	id := register(t, s, 1)
	for want := uint32(2); want <= 3; want++ {
		got, err := s.AddDevice(ctx, id, newDevice(want), 3)
		check(t, err)
		equal(t, "device id", got, want)
	}
	if _, err := s.AddDevice(ctx, id, newDevice(4), 3); !errors.Is(err, devices.ErrTooManyDevices) {
		t.Fatalf("fourth device of three: err = %v", err)
	}
	check(t, s.RemoveDevice(ctx, id, 2))
	got, err := s.AddDevice(ctx, id, newDevice(5), 3)
	check(t, err)
	equal(t, "the lowest free id is reused", got, uint32(2))
	// Many link and remove cycles never leave libsignal's 1..127.
	for i := range 300 {
		check(t, s.RemoveDevice(ctx, id, 3))
		got, err := s.AddDevice(ctx, id, newDevice(uint32(10+i)), 3)
		check(t, err)
		equal(t, "id after a link and remove cycle", got, uint32(3))
	}
	big := register(t, s, 1)
	for want := uint32(2); want <= devices.MaxDeviceID; want++ {
		got, err := s.AddDevice(ctx, big, newDevice(want), 1000)
		check(t, err)
		equal(t, "device id", got, want)
	}
	if _, err := s.AddDevice(ctx, big, newDevice(1), 1000); !errors.Is(err, devices.ErrTooManyDevices) {
		t.Fatalf("device 128: err = %v, want ErrTooManyDevices", err)
	}
	if _, err := s.AddDevice(ctx, uuid.NewString(), newDevice(1), 3); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("unknown account: err = %v", err)
	}
}

func testRemoveDevice(t *testing.T, s Store) {
	ctx := context.Background()
	id := register(t, s, 2)
	check(t, s.SetKeys(ctx, id, 2, &api.SetKeys{PreKeys: []api.PreKey{{KeyID: 5, PublicKey: random(33)}}}))
	check(t, s.Insert(ctx, []envelope.Stored{{AccountID: id, DeviceID: 2, ID: uuid.New(), SourceAccount: id, SourceDevice: 1, Type: 1, Content: []byte("x"), Expires: time.Now().Add(time.Hour)}}, envelope.Quota{}))
	check(t, s.RemoveDevice(ctx, id, 2))
	if err := s.RemoveDevice(ctx, id, 2); !errors.Is(err, devices.ErrNotFound) {
		t.Fatalf("second removal: err = %v", err)
	}
	c, err := s.CountPreKeys(ctx, id, 2)
	check(t, err)
	equal(t, "prekeys of removed device", c.PreKeys, 0)
	envs, err := s.Fetch(ctx, id, 2, 0, 10)
	check(t, err)
	equal(t, "envelopes of removed device", len(envs), 0)
	if _, err := s.ClaimBundles(ctx, id, 2, 0); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("bundle of removed device: err = %v", err)
	}
	if err := s.SetKeys(ctx, id, 2, &api.SetKeys{}); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("keys for removed device: err = %v", err)
	}
}

func testProvisioningCodes(t *testing.T, s Store) {
	ctx := context.Background()
	id := register(t, s, 1)
	now := time.Now()
	check(t, s.PutProvisioningCode(ctx, id, []byte("code"), now.Add(time.Minute)))
	ok, err := s.TakeProvisioningCode(ctx, id, []byte("code"), now)
	check(t, err)
	equal(t, "first take", ok, true)
	ok, err = s.TakeProvisioningCode(ctx, id, []byte("code"), now)
	check(t, err)
	equal(t, "second take", ok, false)
	check(t, s.PutProvisioningCode(ctx, id, []byte("old"), now.Add(time.Minute)))
	ok, err = s.TakeProvisioningCode(ctx, id, []byte("old"), now.Add(2*time.Minute))
	check(t, err)
	equal(t, "expired take", ok, false)
}

func testClaims(t *testing.T, s Store) {
	ctx := context.Background()
	id := register(t, s, 2)
	pq := signed(50)
	check(t, s.SetKeys(ctx, id, 1, &api.SetKeys{
		PreKeys:   []api.PreKey{{KeyID: 11, PublicKey: random(33)}, {KeyID: 10, PublicKey: random(33)}},
		PQPreKeys: []api.SignedPreKey{pq},
	}))
	c, err := s.CountPreKeys(ctx, id, 1)
	check(t, err)
	equal(t, "ec count", c.PreKeys, 2)
	equal(t, "pq count", c.PQPreKeys, 1)

	cl, err := s.ClaimBundles(ctx, id, 0, 0)
	check(t, err)
	equal(t, "devices in bundle", len(cl.Bundle.Devices), 2)
	d1 := cl.Bundle.Devices[0]
	equal(t, "device", d1.DeviceID, uint32(1))
	if d1.PreKey == nil {
		t.Fatal("device 1 has one-time keys but got none")
	}
	equal(t, "lowest key id first", d1.PreKey.KeyID, uint32(10))
	equal(t, "pq one-time", d1.PQLastResort, false)
	equal(t, "pq key", string(d1.PQPreKey.Signature), string(pq.Signature))
	equal(t, "ec left", cl.Left[0].PreKeys, 1)
	d2 := cl.Bundle.Devices[1]
	if d2.PreKey != nil {
		t.Fatal("device 2 has no one-time keys but got one")
	}
	equal(t, "pq falls back to last resort", d2.PQLastResort, true)
	equal(t, "last resort key id", d2.PQPreKey.KeyID, uint32(2))
	equal(t, "signed prekey", d2.SignedPreKey.KeyID, uint32(1))

	cl, err = s.ClaimBundles(ctx, id, 1, 0)
	check(t, err)
	equal(t, "one device", len(cl.Bundle.Devices), 1)
	equal(t, "second key", cl.Bundle.Devices[0].PreKey.KeyID, uint32(11))
	equal(t, "pq now last resort", cl.Bundle.Devices[0].PQLastResort, true)

	if _, err := s.ClaimBundles(ctx, id, 9, 0); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("unknown device: err = %v", err)
	}
	if _, err := s.ClaimBundles(ctx, uuid.NewString(), 0, 0); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("unknown account: err = %v", err)
	}
	// All devices but one: the excepted device's keys stay.
	check(t, s.SetKeys(ctx, id, 2, &api.SetKeys{PreKeys: []api.PreKey{{KeyID: 3, PublicKey: random(33)}}}))
	cl, err = s.ClaimBundles(ctx, id, 0, 2)
	check(t, err)
	equal(t, "devices but the excepted one", len(cl.Bundle.Devices), 1)
	equal(t, "remaining device", cl.Bundle.Devices[0].DeviceID, uint32(1))
	left, err := s.CountPreKeys(ctx, id, 2)
	check(t, err)
	equal(t, "excepted device's keys untouched", left.PreKeys, 1)
	// Replacing the signed prekey takes effect.
	check(t, s.SetKeys(ctx, id, 2, &api.SetKeys{SignedPreKey: &api.SignedPreKey{KeyID: 77, PublicKey: random(33), Signature: random(64)}}))
	cl, err = s.ClaimBundles(ctx, id, 2, 0)
	check(t, err)
	equal(t, "new signed prekey", cl.Bundle.Devices[0].SignedPreKey.KeyID, uint32(77))
}

func testConcurrentClaims(t *testing.T, s Store) {
	ctx := context.Background()
	id := register(t, s, 1)
	const keysN, claimers = 10, 25
	var pks []api.PreKey
	for i := range keysN {
		pks = append(pks, api.PreKey{KeyID: uint32(i + 1), PublicKey: random(33)})
	}
	check(t, s.SetKeys(ctx, id, 1, &api.SetKeys{PreKeys: pks}))
	var mu sync.Mutex
	seen := map[uint32]int{}
	none := 0
	var wg sync.WaitGroup
	for range claimers {
		wg.Go(func() {
			cl, err := s.ClaimBundles(ctx, id, 1, 0)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if pk := cl.Bundle.Devices[0].PreKey; pk != nil {
				seen[pk.KeyID]++
			} else {
				none++
			}
		})
	}
	wg.Wait()
	for k, n := range seen {
		if n != 1 {
			t.Errorf("key %d handed out %d times", k, n)
		}
	}
	equal(t, "keys handed out", len(seen), keysN)
	equal(t, "claims without a key", none, claimers-keysN)
}

func testMailbox(t *testing.T, s Store) {
	ctx := context.Background()
	id := register(t, s, 2)
	if _, err := s.Recipients(ctx, uuid.NewString()); !errors.Is(err, envelope.ErrNotFound) {
		t.Fatalf("recipients of unknown account: err = %v", err)
	}
	rs, err := s.Recipients(ctx, id)
	check(t, err)
	equal(t, "recipients", len(rs), 2)
	equal(t, "registration id", rs[1].RegistrationID, uint32(2))

	now := time.Now()
	var ids []uuid.UUID
	for i := range 5 {
		e := envelope.Stored{AccountID: id, DeviceID: 2, ID: uuid.New(), SourceAccount: id, SourceDevice: 1,
			Type: 3, Content: []byte{byte(i)}, ServerTimestamp: now.UnixMilli(), Expires: now.Add(time.Hour)}
		if i == 4 {
			e.Expires = now.Add(-time.Second)
		}
		batch := []envelope.Stored{e}
		check(t, s.Insert(ctx, batch, envelope.Quota{}))
		if batch[0].Seq == 0 {
			t.Fatal("insert did not set Seq")
		}
		ids = append(ids, e.ID)
	}
	first, err := s.Fetch(ctx, id, 2, 0, 2)
	check(t, err)
	equal(t, "first page", len(first), 2)
	equal(t, "order", first[0].Content[0], byte(0))
	equal(t, "id", first[0].ID, ids[0])
	equal(t, "type", first[0].Type, 3)
	rest, err := s.Fetch(ctx, id, 2, first[1].Seq, 10)
	check(t, err)
	equal(t, "resume by position", len(rest), 3)
	equal(t, "resumed order", rest[0].Content[0], byte(2))

	check(t, s.Ack(ctx, acked(id, 2, ids[0], first[0].Seq, 0))) // its position known
	check(t, s.Ack(ctx, acked(id, 2, ids[0], 0, 0)))            // again, anywhere: no error
	check(t, s.Ack(ctx, acked(id, 1, ids[1], 0, 0)))            // wrong mailbox: deletes nothing
	check(t, s.Ack(ctx, acked(id, 2, ids[2], 0, first[1].Seq))) // only known to be past a position
	all, err := s.Fetch(ctx, id, 2, 0, 10)
	check(t, err)
	equal(t, "after ack", len(all), 3)
	equal(t, "acked ones gone", all[0].ID, ids[1])
	equal(t, "acked ones gone", all[1].ID, ids[3])

	c, err := s.Count(ctx)
	check(t, err)
	equal(t, "count before expiry", c, int64(3))
	n, err := s.DeleteExpired(ctx, now, 100)
	check(t, err)
	equal(t, "expired", n, 1)
	all, err = s.Fetch(ctx, id, 2, 0, 10)
	check(t, err)
	equal(t, "after expiry", len(all), 2)
}

// acked is one ack of envelope id in mailbox (account, dev), at position seq
// when it is not 0, else somewhere past after.
func acked(account string, dev uint32, id uuid.UUID, seq, after int64) []envelope.Acked {
	return []envelope.Acked{{AckKey: envelope.AckKey{AccountID: account, DeviceID: dev, ID: id}, Seq: seq, After: after}}
}

func testInsertSkipsRemoved(t *testing.T, s Store) {
	ctx := context.Background()
	id := register(t, s, 3)
	check(t, s.RemoveDevice(ctx, id, 3))
	msg := uuid.New()
	var batch []envelope.Stored
	for d := uint32(2); d <= 3; d++ {
		batch = append(batch, envelope.Stored{AccountID: id, DeviceID: d, ID: msg, SourceAccount: id, SourceDevice: 1, Type: 1, Content: []byte("c"), Expires: time.Now().Add(time.Hour)})
	}
	check(t, s.Insert(ctx, batch, envelope.Quota{}))
	got, err := s.Fetch(ctx, id, 2, 0, 10)
	check(t, err)
	equal(t, "live device got it", len(got), 1)
	got, err = s.Fetch(ctx, id, 3, 0, 10)
	check(t, err)
	equal(t, "removed device got nothing", len(got), 0)
}
