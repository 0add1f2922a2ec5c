package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/hushmsg/hush/envelope"

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

// TestAckFindsByPosition acks 100 envelopes from the middle of a backlog of
// 5,000 that the planner's statistics do not know of (the table was
// analyzed while the mailbox was empty, as a fresh backlog always is), with
// a custom and a generic plan, and counts the rows each plan examined: the
// acked positions only, not the whole mailbox, which made draining a
// backlog of n take time in n².
func TestAckFindsByPosition(t *testing.T) {
	ctx := context.Background()
	url := storetest.PostgresURL(t)
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	acct := storetest.Account(t, s)
	if _, err := conn.Exec(ctx, "ANALYZE envelopes"); err != nil {
		t.Fatal(err)
	}
	const n, acked = 5000, 100
	var envs []envelope.Stored
	for len(envs) < n {
		chunk := make([]envelope.Stored, 500)
		for i := range chunk {
			chunk[i] = envelope.Stored{AccountID: acct, DeviceID: 1, ID: uuid.New(), SourceAccount: acct, SourceDevice: 1,
				Type: 2, Content: make([]byte, 256), ServerTimestamp: 1, Expires: time.Now().Add(time.Hour)}
		}
		if err := s.Insert(ctx, chunk, envelope.Quota{}); err != nil {
			t.Fatal(err)
		}
		envs = append(envs, chunk...)
	}
	mid := envs[n/2 : n/2+acked]
	ids := make([]uuid.UUID, len(mid))
	for i, e := range mid {
		ids[i] = e.ID
	}
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		t.Run(mode, func(t *testing.T) {
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = "+mode); err != nil {
				t.Fatal(err)
			}
			var plan []map[string]any
			if err := tx.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+postgres.AckQuery,
				acct, 1, mid[0].Seq, mid[len(mid)-1].Seq, ids).Scan(&plan); err != nil {
				t.Fatal(err)
			}
			deleted, examined := examinedRows(plan[0]["Plan"].(map[string]any))
			if deleted != acked {
				t.Fatalf("the plan deleted %d rows, want %d", deleted, acked)
			}
			if examined > 3*acked {
				t.Fatalf("the plan examined %d rows to delete %d: %v", examined, acked, plan)
			}
		})
	}
	acks := make([]envelope.Acked, len(mid))
	for i, e := range mid {
		acks[i] = envelope.Acked{AckKey: envelope.AckKey{AccountID: acct, DeviceID: 1, ID: e.ID}, Seq: e.Seq}
	}
	if err := s.Ack(ctx, acks); err != nil {
		t.Fatal(err)
	}
	left, err := s.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if left != n-acked {
		t.Fatalf("%d envelopes left, want %d", left, n-acked)
	}
}

// examinedRows walks an EXPLAIN ANALYZE plan of a DELETE: the rows it
// deleted (those the scan under its ModifyTable node returned), and the
// rows all its scans returned or removed.
func examinedRows(node map[string]any) (deleted, examined int) {
	num := func(n map[string]any, k string) int { f, _ := n[k].(float64); return int(f) }
	kids, _ := node["Plans"].([]any)
	for _, c := range kids {
		kid := c.(map[string]any)
		if node["Node Type"] == "ModifyTable" {
			deleted += num(kid, "Actual Rows")
		}
		_, e := examinedRows(kid)
		examined += e
	}
	if strings.Contains(node["Node Type"].(string), "Scan") {
		examined += num(node, "Actual Rows") + num(node, "Rows Removed by Filter") + num(node, "Rows Removed by Index Recheck")
	}
	return deleted, examined
}
