package sqlite_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/envelope"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/sqlite"
)

// BenchmarkInsertFetchAck measures one envelope's whole life in the store:
// a durable insert, the fetch that delivers it and the ack that deletes it.
func BenchmarkInsertFetchAck(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "hush.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	key := make([]byte, 33)
	_, _ = rand.Read(key)
	acct, err := s.Register(ctx, "+15550000001", uuid.NewString(), key, devices.NewDevice{
		PasswordHash: key, RegistrationID: 1, Created: time.Now(),
		SignedPreKey: api.SignedPreKey{PublicKey: key, Signature: key}, PQLastResortPreKey: api.SignedPreKey{PublicKey: key, Signature: key},
	})
	if err != nil {
		b.Fatal(err)
	}
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
