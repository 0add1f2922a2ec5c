package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hushmsg/hush/internal/sqlite"
	"github.com/hushmsg/hush/internal/storetest"
)

func open(b *testing.B) *sqlite.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "hush.db"))
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
