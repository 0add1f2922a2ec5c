package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hushmsg/hush/devices"

	"github.com/hushmsg/hush/internal/sqlite"
	"github.com/hushmsg/hush/internal/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hush.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hush.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutRegistrationCode(ctx, "+15550003333", devices.RegistrationCode{Hash: []byte("h"), Expires: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, path) // migrations run again: must be a no-op
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.RegistrationCode(ctx, "+15550003333"); err != nil {
		t.Fatalf("code lost across reopen: %v", err)
	}
}

// TestClaimStormTwoStores runs the claim storm over two stores on one
// file: each store's single writer batches claims, and the two take turns
// on the file's lock.
func TestClaimStormTwoStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hush.db")
	var stores []storetest.Store
	for range 2 {
		s, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	storetest.ClaimStorm(t, stores...)
}
