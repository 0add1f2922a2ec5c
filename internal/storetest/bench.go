package storetest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/envelope"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/ratelimit"
)

// BenchInsertFetchAck measures one envelope's whole life in s: a committed
// insert, the fetch that delivers it and the ack that deletes it, one at a
// time, with 1 KiB of content.
func BenchInsertFetchAck(b *testing.B, s Store) {
	ctx := context.Background()
	acct := Account(b, s)
	content := make([]byte, 1024)
	var cursor int64
	b.ReportAllocs()
	for b.Loop() {
		e := []envelope.Stored{{AccountID: acct, DeviceID: 1, ID: uuid.New(), SourceAccount: acct, SourceDevice: 1,
			Type: 2, Content: content, ServerTimestamp: 1, Expires: time.Now().Add(time.Hour)}}
		if err := s.Insert(ctx, e, envelope.Quota{}); err != nil {
			b.Fatal(err)
		}
		got, err := s.Fetch(ctx, acct, 1, cursor, 10)
		if err != nil || len(got) != 1 {
			b.Fatalf("fetch: %v (%d)", err, len(got))
		}
		cursor = got[0].Seq
		if err := s.Ack(ctx, acked(acct, 1, got[0].ID, got[0].Seq, 0)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchInsertAckParallel measures the durable envelope rate with many
// mailboxes at once: GOMAXPROCS*16 goroutines, each inserting into and
// acking from its own mailbox.
func BenchInsertAckParallel(b *testing.B, s Store) {
	ctx := context.Background()
	content := make([]byte, 1024)
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		acct := Account(b, s)
		for pb.Next() {
			e := []envelope.Stored{{AccountID: acct, DeviceID: 1, ID: uuid.New(), SourceAccount: acct, SourceDevice: 1,
				Type: 2, Content: content, ServerTimestamp: 1, Expires: time.Now().Add(time.Hour)}}
			if err := s.Insert(ctx, e, envelope.Quota{}); err != nil {
				b.Error(err)
				return
			}
			if err := s.Ack(ctx, acked(acct, 1, e[0].ID, e[0].Seq, 0)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// Account registers a fresh account with one device and returns its id.
func Account(t testing.TB, s Store) string {
	t.Helper()
	r, err := s.Register(context.Background(), devices.Registration{Number: "+1555" + uuid.NewString()[:8], NewID: uuid.NewString(), IdentityKey: random(33), Primary: newDevice(1)})
	if err != nil {
		t.Fatal(err)
	}
	return r.AccountID
}

// BenchClaimsParallel measures bundle claims in s alone, as hush-bench
// bundles makes them: GOMAXPROCS*16 goroutines claiming the bundles of 20
// accounts in turn (100 one-time keys each, then none).
func BenchClaimsParallel(b *testing.B, s Store) {
	ctx := context.Background()
	var ids []string
	for range 20 {
		id := Account(b, s)
		set := &api.SetKeys{}
		for k := range uint32(api.MaxPreKeysPerUpload) {
			set.PreKeys = append(set.PreKeys, api.PreKey{KeyID: k + 1, PublicKey: random(33)})
		}
		if err := s.SetKeys(ctx, id, 1, set); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	var next atomic.Int64
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.ClaimBundles(ctx, ids[next.Add(1)%int64(len(ids))], 0, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchRateLimit measures one shared rate limit check (ratelimit.Shared's
// Take: one statement on s) over 1,000 buckets, from one goroutine and
// then from GOMAXPROCS*4.
func BenchRateLimit(b *testing.B, s ratelimit.Store) {
	l := ratelimit.NewBuckets(s, nil).Shared("bench", ratelimit.Limit{Burst: 1 << 30, Per: time.Hour})
	ctx := context.Background()
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = uuid.NewString()
	}
	b.Run("serial", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if ok, _, err := l.Take(ctx, keys[i%len(keys)]); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(4)
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if ok, _, err := l.Take(ctx, keys[next.Add(1)%int64(len(keys))]); !ok || err != nil {
					b.Error(ok, err)
					return
				}
			}
		})
	})
}

// BenchInsertBatch measures what a mailbox quota costs the relay's group
// commit: batches of 512 envelopes over 256 mailboxes (two each), without
// a quota and with the default one. Envelopes are not acked: the
// mailboxes grow by a few thousand, well under the quota.
func BenchInsertBatch(b *testing.B, s Store) {
	ctx := context.Background()
	content := make([]byte, 256)
	boxes := make([]string, 256)
	for i := range boxes {
		boxes[i] = Account(b, s)
	}
	for _, q := range []struct {
		name string
		q    envelope.Quota
	}{
		{"quota", envelope.Quota{MaxEnvelopes: 50_000, MaxBytes: 1 << 30, Recount: time.Minute}},
		{"no-quota", envelope.Quota{}},
	} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				envs := make([]envelope.Stored, 512)
				for i := range envs {
					a := boxes[i%len(boxes)]
					envs[i] = envelope.Stored{AccountID: a, DeviceID: 1, ID: uuid.New(), SourceAccount: a, SourceDevice: 1,
						Type: 2, Content: content, ServerTimestamp: 1, Expires: time.Now().Add(time.Hour)}
				}
				if err := s.Insert(ctx, envs, q.q); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*512), "us/envelope")
		})
	}
}
