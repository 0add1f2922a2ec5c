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
		if err := s.Insert(ctx, e); err != nil {
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
			if err := s.Insert(ctx, e); err != nil {
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
