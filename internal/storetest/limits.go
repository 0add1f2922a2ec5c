package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/envelope"
	"github.com/hushmsg/hush/groups"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/ratelimit"
	"github.com/hushmsg/hush/keys"
)

// RateLimits checks a ratelimit.Store: the generic cell rate algorithm's
// step, its atomicity under concurrent takes, the sweep and the secret.
// It runs in Run and on ratelimit.Memory.
func RateLimits(t *testing.T, s ratelimit.Store) {
	ctx := context.Background()
	key := random(ratelimit.KeySize)
	const (
		now    = int64(1_000_000_000_000)
		step   = int64(1_000_000) // 1 s
		window = 3 * step         // a burst of 3
	)
	for i := range 3 {
		ok, tat, err := s.TakeRateLimit(ctx, key, now, step, window)
		check(t, err)
		if !ok || tat != now+int64(i+1)*step {
			t.Fatalf("take %d: ok=%v tat=%d, want taken with tat now+%ds", i, ok, tat-now, i+1)
		}
	}
	ok, tat, err := s.TakeRateLimit(ctx, key, now, step, window)
	check(t, err)
	if ok || tat != now+window {
		t.Fatalf("4th take: ok=%v tat=now+%d, want refused with the tat unchanged", ok, tat-now)
	}
	ok, _, err = s.TakeRateLimit(ctx, key, now+step, step, window)
	check(t, err)
	equal(t, "take a step later", ok, true)
	ok, tat, err = s.TakeRateLimit(ctx, random(ratelimit.KeySize), now, 4*step, window)
	check(t, err)
	if ok || tat != now {
		t.Fatalf("a step wider than the window on a new bucket: ok=%v tat=now+%d, want refused with tat now", ok, tat-now)
	}

	// Concurrent takes from one bucket: exactly the burst gets through.
	hot := random(ratelimit.KeySize)
	var taken atomic.Int32
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _, err := s.TakeRateLimit(ctx, hot, now, step, 10*step)
			if err != nil {
				t.Error(err)
			}
			if ok {
				taken.Add(1)
			}
		}()
	}
	wg.Wait()
	equal(t, "concurrent takes allowed", taken.Load(), int32(10))

	// Buckets full again by now+window+step are swept; the hot one is not.
	n, err := s.SweepRateLimits(ctx, now+window+step, 1000)
	check(t, err)
	equal(t, "buckets swept", n, 1)
	ok, tat, err = s.TakeRateLimit(ctx, key, now+window+step, step, window)
	check(t, err)
	if !ok || tat != now+window+2*step {
		t.Fatalf("swept bucket: ok=%v tat=now+%d, want a fresh bucket", ok, tat-now)
	}
	ok, tat, err = s.TakeRateLimit(ctx, hot, now+window+step, step, 10*step)
	check(t, err)
	if !ok || tat != now+11*step {
		t.Fatalf("unswept bucket: ok=%v tat=now+%d, want its tat kept (now+11s)", ok, tat-now)
	}

	a, err := s.RateLimitSecret(ctx)
	check(t, err)
	b, err := s.RateLimitSecret(ctx)
	check(t, err)
	if len(a) < 16 || string(a) != string(b) {
		t.Fatalf("secret: %d bytes, stable %v", len(a), string(a) == string(b))
	}
}

func testRateLimits(t *testing.T, s Store) { RateLimits(t, s) }

func envelopeFor(id string, dev uint32, content string) envelope.Stored {
	return envelope.Stored{AccountID: id, DeviceID: dev, ID: uuid.New(), SourceAccount: id, SourceDevice: 1, Type: 1,
		Content: []byte(content), Expires: time.Now().Add(time.Hour)}
}

// full lists which envelopes of a batch Insert refused.
func full(envs []envelope.Stored) []bool {
	out := make([]bool, len(envs))
	for i, e := range envs {
		out[i] = e.Full
	}
	return out
}

func fetchN(t *testing.T, s Store, id string, dev uint32) []envelope.Stored {
	t.Helper()
	got, err := s.Fetch(context.Background(), id, dev, 0, 1000)
	check(t, err)
	return got
}

// A mailbox takes envelopes up to its quota, in count and in bytes; past
// it Insert refuses them (Full) without touching what it holds or other
// mailboxes of the batch; acks make room once the mailbox may be counted
// again; group notices count; a removed device's envelope is skipped,
// not refused.
func testMailboxQuota(t *testing.T, s Store) {
	ctx := context.Background()
	id := register(t, s, 3)
	q := envelope.Quota{MaxEnvelopes: 3, Recount: time.Hour}
	batch := []envelope.Stored{envelopeFor(id, 2, "a"), envelopeFor(id, 3, "x"), envelopeFor(id, 2, "b"), envelopeFor(id, 2, "c"), envelopeFor(id, 2, "d"), envelopeFor(id, 2, "e")}
	check(t, s.Insert(ctx, batch, q))
	equal(t, "refused in the batch", fmtBools(full(batch)), "FFFFTT")
	got := fetchN(t, s, id, 2)
	equal(t, "stored in the full mailbox", len(got), 3)
	equal(t, "in order", string(got[0].Content)+string(got[1].Content)+string(got[2].Content), "abc")
	equal(t, "other mailbox of the batch", len(fetchN(t, s, id, 3)), 1)

	// Acks free room, but the mailbox was counted within Recount.
	check(t, s.Ack(ctx, acked(id, 2, got[0].ID, got[0].Seq, 0)))
	check(t, s.Ack(ctx, acked(id, 2, got[1].ID, got[1].Seq, 0)))
	more := []envelope.Stored{envelopeFor(id, 2, "f")}
	check(t, s.Insert(ctx, more, q))
	equal(t, "refused until it may be counted again", more[0].Full, true)
	q.Recount = 0
	more = []envelope.Stored{envelopeFor(id, 2, "f"), envelopeFor(id, 2, "g"), envelopeFor(id, 2, "h")}
	check(t, s.Insert(ctx, more, q))
	equal(t, "counted again: room for two", fmtBools(full(more)), "FFT")
	equal(t, "mailbox after the recount", len(fetchN(t, s, id, 2)), 3)

	// Bytes: refused once the mailbox holds MaxBytes.
	qb := envelope.Quota{MaxBytes: 10, Recount: time.Hour}
	bytes := []envelope.Stored{envelopeFor(id, 3, "123456"), envelopeFor(id, 3, "123456"), envelopeFor(id, 3, "1")}
	check(t, s.Insert(ctx, bytes, qb))
	equal(t, "refused by bytes", fmtBools(full(bytes)), "FFT") // 1 + 6 < 10, then 13

	// A removed device: skipped, not full.
	check(t, s.RemoveDevice(ctx, id, 3))
	gone := []envelope.Stored{envelopeFor(id, 3, "z")}
	check(t, s.Insert(ctx, gone, q))
	equal(t, "removed device's envelope refused", gone[0].Full, false)

	// Group notices count toward the quota (the running count goes up by
	// them), and a recount counts the shared payload's bytes.
	other := register(t, s, 1)
	qo := envelope.Quota{MaxEnvelopes: 1, Recount: time.Hour}
	two := []envelope.Stored{envelopeFor(other, 1, "m"), envelopeFor(other, 1, "n")}
	check(t, s.Insert(ctx, two, qo)) // the second is refused after a recount
	equal(t, "quota of one", fmtBools(full(two)), "FT")
	check(t, s.Ack(ctx, acked(other, 1, two[0].ID, two[0].Seq, 0))) // holds none; counted one
	g := uuid.NewString()
	_, err := s.ChangeGroup(ctx, g, true, time.Now(), func(*groups.Group) (*groups.Change, error) {
		c := &groups.Change{Add: []api.GroupMember{{AccountID: other, Role: api.RoleAdmin}}}
		for range 2 {
			c.Notices = append(c.Notices, groups.Notice{Accounts: []string{other}, ID: uuid.New(), Payload: uuid.New(),
				Content: []byte("notice"), Expires: time.Now().Add(time.Hour)})
		}
		return c, nil
	})
	check(t, err)
	one := []envelope.Stored{envelopeFor(other, 1, "o")}
	check(t, s.Insert(ctx, one, envelope.Quota{MaxEnvelopes: 3, Recount: time.Hour}))
	equal(t, "one counted and two notices fill a quota of three", one[0].Full, true)
	one = []envelope.Stored{envelopeFor(other, 1, "o")}
	check(t, s.Insert(ctx, one, envelope.Quota{MaxBytes: 13}))
	equal(t, "counted again, 12 bytes of notices leave room under 13", one[0].Full, false)
	one = []envelope.Stored{envelopeFor(other, 1, "p")}
	check(t, s.Insert(ctx, one, envelope.Quota{MaxBytes: 13}))
	equal(t, "13 bytes fill 13", one[0].Full, true)
}

func fmtBools(bs []bool) string {
	out := make([]byte, len(bs))
	for i, b := range bs {
		out[i] = "FT"[btoi(b)]
	}
	return string(out)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Bundles hands out the bundles without one-time keys and takes none;
// Left still counts them.
func testBundlesKeepKeys(t *testing.T, s Store) {
	ctx := context.Background()
	id := register(t, s, 2)
	check(t, s.SetKeys(ctx, id, 1, &api.SetKeys{
		PreKeys:   []api.PreKey{{KeyID: 10, PublicKey: random(33)}, {KeyID: 11, PublicKey: random(33)}},
		PQPreKeys: []api.SignedPreKey{signed(50)},
	}))
	for range 3 {
		cl, err := s.Bundles(ctx, id, 0, 0)
		check(t, err)
		equal(t, "devices", len(cl.Bundle.Devices), 2)
		d := cl.Bundle.Devices[0]
		if d.PreKey != nil {
			t.Fatal("Bundles handed out a one-time EC key")
		}
		equal(t, "PQ key is the last resort", d.PQLastResort, true)
		equal(t, "last resort id", d.PQPreKey.KeyID, uint32(2))
		equal(t, "signed prekey", d.SignedPreKey.KeyID, uint32(1))
		equal(t, "EC keys left", cl.Left[0].PreKeys, 2)
		equal(t, "PQ keys left", cl.Left[0].PQPreKeys, 1)
	}
	c, err := s.CountPreKeys(ctx, id, 1)
	check(t, err)
	equal(t, "one-time keys after Bundles", c.PreKeys+c.PQPreKeys, 3)
	if _, err := s.Bundles(ctx, id, 9, 0); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("unknown device: err = %v", err)
	}
	if _, err := s.Bundles(ctx, uuid.NewString(), 0, 0); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("unknown account: err = %v", err)
	}
	cl, err := s.ClaimBundles(ctx, id, 1, 0)
	check(t, err)
	equal(t, "a claim after Bundles takes the lowest key", cl.Bundle.Devices[0].PreKey.KeyID, uint32(10))
}
