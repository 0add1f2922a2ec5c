package postgres_test

import (
	"context"
	"testing"

	"github.com/hushmsg/hush/internal/postgres"
	"github.com/hushmsg/hush/internal/storetest"
)

func open(b *testing.B) *postgres.Store {
	s, err := postgres.Open(context.Background(), storetest.PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkInsertFetchAck(b *testing.B)    { storetest.BenchInsertFetchAck(b, open(b)) }
func BenchmarkInsertAckParallel(b *testing.B) { storetest.BenchInsertAckParallel(b, open(b)) }
func BenchmarkClaimsParallel(b *testing.B)    { storetest.BenchClaimsParallel(b, open(b)) }
func BenchmarkRateLimit(b *testing.B)         { storetest.BenchRateLimit(b, open(b)) }
func BenchmarkInsertBatch(b *testing.B)       { storetest.BenchInsertBatch(b, open(b)) }
