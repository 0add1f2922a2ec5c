package postgres_test

import (
	"context"
	"testing"

	"github.com/hushmsg/hush/internal/postgres"
	"github.com/hushmsg/hush/internal/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, err := postgres.Open(context.Background(), storetest.PostgresURL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestMigrateTwice(t *testing.T) {
	ctx := context.Background()
	url := storetest.PostgresURL(t)
	for range 2 {
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

// TestClaimStormTwoNodes runs the claim storm over two stores on one
// database, as two nodes: their batches run at the same time, so claims of
// the same device meet in SKIP LOCKED.
func TestClaimStormTwoNodes(t *testing.T) {
	url := storetest.PostgresURL(t)
	var stores []storetest.Store
	for range 2 {
		s, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	storetest.ClaimStorm(t, stores...)
}
