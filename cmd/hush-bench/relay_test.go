package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRelayScenario runs the scenario briefly and checks that what it
// reports adds up: every envelope sent was delivered, with latencies.
func TestRelayScenario(t *testing.T) {
	out := filepath.Join(t.TempDir(), "result.json")
	if err := relay(context.Background(), relayConfig{Pairs: 2, Duration: 500 * time.Millisecond, Size: 64, JSON: out}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r relayResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Sent == 0 || r.Delivered != r.Sent || r.Failed != 0 {
		t.Fatalf("sent %d, delivered %d, failed %d", r.Sent, r.Delivered, r.Failed)
	}
	if r.DeliverP50 <= 0 || r.DeliverMax < r.DeliverP99 || r.DeliverP99 < r.DeliverP50 {
		t.Fatalf("latencies do not add up: %+v", r)
	}
}
