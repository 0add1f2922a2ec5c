package postgres_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/envelope"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/postgres"
	"github.com/hushmsg/hush/internal/storetest"
)

// BenchmarkInsertAckParallel is the store's durable envelope rate with many
// mailboxes at once: each goroutine inserts into and acks from its own
// mailbox (GOMAXPROCS*16 goroutines, as many concurrent senders).
func BenchmarkInsertAckParallel(b *testing.B) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, storetest.PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	content := make([]byte, 1024)
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		acct := register(b, s)
		for pb.Next() {
			e := []envelope.Stored{{AccountID: acct, DeviceID: 1, ID: uuid.New(), SourceAccount: acct, SourceDevice: 1,
				Type: 2, Content: content, ServerTimestamp: 1, Expires: time.Now().Add(time.Hour)}}
			if err := s.Insert(ctx, e); err != nil {
				b.Error(err)
				return
			}
			if err := s.Ack(ctx, acct, 1, e[0].ID); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func register(b *testing.B, s *postgres.Store) string {
	key := make([]byte, 33)
	_, _ = rand.Read(key)
	acct, err := s.Register(context.Background(), "+1555"+uuid.NewString()[:8], uuid.NewString(), key, devices.NewDevice{
		PasswordHash: key, RegistrationID: 1, Created: time.Now(),
		SignedPreKey: api.SignedPreKey{PublicKey: key, Signature: key}, PQLastResortPreKey: api.SignedPreKey{PublicKey: key, Signature: key},
	})
	if err != nil {
		b.Fatal(err)
	}
	return acct
}

// BenchmarkInsertFetchAck measures one envelope's whole life in the store:
// a committed insert, the fetch that delivers it and the ack that deletes it.
func BenchmarkInsertFetchAck(b *testing.B) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, storetest.PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	acct := register(b, s)
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
		if err := s.Ack(ctx, acct, 1, got[0].ID); err != nil {
			b.Fatal(err)
		}
	}
}
