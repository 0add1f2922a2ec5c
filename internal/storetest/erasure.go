package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/envelope"
	"github.com/hushmsg/hush/gdpr"
)

// waitFor polls cond until it holds (a generous deadline: a hang, not a
// speed limit).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// testSendEraseRace: envelopes from an account keep being inserted, from
// many goroutines, while it is erased; none it sent may be left (in
// another's mailbox or in its own devices' ones).
func testSendEraseRace(t *testing.T, s Store) {
	ctx := context.Background()
	sender, rcpt := register(t, s, 2), register(t, s, 1)
	var stop atomic.Bool
	var tries, stored atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				id := uuid.New()
				batch := []envelope.Stored{
					{AccountID: rcpt, DeviceID: 1, ID: id, SourceAccount: sender, SourceDevice: 1, Type: 1, Content: []byte("to rcpt"), Expires: time.Now().Add(time.Hour)},
					{AccountID: sender, DeviceID: 2, ID: id, SourceAccount: sender, SourceDevice: 1, Type: 1, Content: []byte("sync"), Expires: time.Now().Add(time.Hour)},
				}
				if err := s.Insert(ctx, batch, envelope.Quota{}); err != nil {
					t.Error(err)
					return
				}
				tries.Add(1)
				if batch[0].Seq != 0 {
					stored.Add(1)
				}
			}
		})
	}
	waitFor(t, "envelopes stored before the erasure", func() bool { return stored.Load() >= 20 || t.Failed() })
	now := time.Now()
	began, err := s.BeginErasure(ctx, sender, "subj_race", now, now.Add(-time.Minute))
	check(t, err)
	equal(t, "erasure began", began, true)
	_, err = s.EraseAccount(ctx, sender, func(_, text string) string { return text })
	check(t, err)
	after := tries.Load()
	waitFor(t, "inserts after the erasure", func() bool { return tries.Load() >= after+50 || t.Failed() })
	stop.Store(true)
	wg.Wait()
	got, err := s.Fetch(ctx, rcpt, 1, 0, 100000)
	check(t, err)
	for _, e := range got {
		if e.SourceAccount == sender {
			t.Fatalf("an envelope from the erased account is left (%d of %d tries stored)", stored.Load(), tries.Load())
		}
	}
	c, err := s.Count(ctx)
	check(t, err)
	equal(t, "envelopes left", c, int64(0))
}

// testEraseBlocksFirst: BeginErasure claims the erasure once per lease
// and blocks the account at once; EraseAccount then removes it.
func testEraseBlocksFirst(t *testing.T, s Store) {
	ctx := context.Background()
	a := register(t, s, 2)
	now := time.Now()
	check(t, s.PutProvisioningCode(ctx, a, []byte("code"), now.Add(time.Minute)))
	began, err := s.BeginErasure(ctx, a, "subj_a", now, now.Add(-time.Minute))
	check(t, err)
	equal(t, "first call begins", began, true)
	began, err = s.BeginErasure(ctx, a, "subj_a", now.Add(time.Second), now.Add(-time.Minute))
	check(t, err)
	equal(t, "second call within the lease", began, false)
	for d := uint32(1); d <= 2; d++ {
		c, err := s.Credential(ctx, a, d)
		check(t, err)
		equal(t, "password hash left", len(c.PasswordHash), 0)
	}
	ok, err := s.TakeProvisioningCode(ctx, a, []byte("code"), now)
	check(t, err)
	equal(t, "provisioning code usable", ok, false)
	pending, err := s.PendingErasures(ctx)
	check(t, err)
	equal(t, "pending pseudonym", pending[a], "subj_a")
	began, err = s.BeginErasure(ctx, a, "subj_a", now.Add(time.Hour), now.Add(time.Minute))
	check(t, err)
	equal(t, "taken over after the lease", began, true)
	rows, err := s.EraseAccount(ctx, a, func(_, text string) string { return text })
	check(t, err)
	equal(t, "accounts deleted", rows["accounts"], int64(1))
	equal(t, "devices deleted", rows["devices"], int64(2))
	pending, err = s.PendingErasures(ctx)
	check(t, err)
	equal(t, "pending after", len(pending), 0)
	if _, err := s.Credential(ctx, a, 1); err == nil {
		t.Fatal("a credential is left")
	}
	if _, err := s.BeginErasure(ctx, a, "subj_a", now, now.Add(-time.Minute)); !errors.Is(err, gdpr.ErrNotFound) {
		t.Fatalf("erasure of an erased account begins: %v", err)
	}
	// Erasing again finds nothing, and is no error.
	rows, err = s.EraseAccount(ctx, a, func(_, text string) string { return text })
	check(t, err)
	equal(t, "accounts deleted again", rows["accounts"], int64(0))
}

// testEraseRedactsRequests: requests about the account lose its number
// and id, in any spelling, from their subjects and notes; others stay.
func testEraseRedactsRequests(t *testing.T, s Store) {
	ctx := context.Background()
	const number = "+15550007777"
	reg, err := s.Register(ctx, devices.Registration{Number: number, NewID: uuid.NewString(), IdentityKey: random(33), Primary: newDevice(1)})
	check(t, err)
	id := reg.AccountID
	check(t, s.PutRegistrationCode(ctx, number, devices.RegistrationCode{Hash: []byte("h"), Expires: time.Now().Add(time.Minute)}))
	reqs := []gdpr.Request{
		{ID: "req_1", Kind: gdpr.KindErasure, Subject: number},
		{ID: "req_2", Kind: gdpr.KindAccess, Subject: id},
		{ID: "req_3", Kind: gdpr.KindAccess, Subject: "+14155552671"},
	}
	for _, r := range reqs {
		r.Received, r.Due, r.Status = time.Now(), time.Now().Add(time.Hour), gdpr.StatusOpen
		check(t, s.CreateRequest(ctx, r))
	}
	check(t, s.CloseRequest(ctx, "req_3", gdpr.StatusDone, "not them: they wrote from (555) 000-7777, account "+id, time.Now()))
	check(t, s.CloseRequest(ctx, "req_2", gdpr.StatusDone, "exported for +1 555 000 7777", time.Now()))
	e, err := s.ExportAccount(ctx, id)
	check(t, err)
	equal(t, "requests in the export", len(e.Requests), 2)
	equal(t, "pending codes in the export", len(e.Codes), 1)

	r := gdpr.NewRedactor(id, number, "subj_r")
	rows, err := s.EraseAccount(ctx, id, func(n, text string) string {
		equal(t, "number given to redact", n, number)
		return r.Redact(text)
	})
	check(t, err)
	equal(t, "requests redacted", rows["dsr_requests_redacted"], int64(3))
	equal(t, "registration codes deleted", rows["registration_codes"], int64(1))
	got, err := s.Requests(ctx)
	check(t, err)
	want := map[string][2]string{
		"req_1": {"subj_r", ""},
		"req_2": {"subj_r", "exported for subj_r"},
		"req_3": {"+14155552671", "not them: they wrote from (subj_r, account subj_r"},
	}
	for _, q := range got {
		equal(t, q.ID+" subject", q.Subject, want[q.ID][0])
		equal(t, q.ID+" note", q.Note, want[q.ID][1])
	}
}

// testConcurrentFirstPseudonyms: the first calls for an account's
// pseudonym, at once, all get the same one.
func testConcurrentFirstPseudonyms(t *testing.T, s Store) {
	ctx := context.Background()
	for range 5 {
		a := register(t, s, 1)
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				p, err := s.Pseudonym(ctx, a, func() string { return "subj_" + uuid.NewString() })
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[p]++
				mu.Unlock()
			})
		}
		wg.Wait()
		equal(t, "pseudonyms", len(seen), 1)
	}
}
