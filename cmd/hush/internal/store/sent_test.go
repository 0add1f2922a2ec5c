package store

import (
	"context"
	"testing"
	"time"
)

// TestSentPlaintexts: a kept plaintext is found by the account that got
// it (1:1, or as a member of the group), by this account's own devices,
// by nobody else, and not after SentKeep.
func TestSentPlaintexts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	if err := s.SaveGroup(ctx, &Group{ID: "grp", Member: true, Members: []GroupMember{{AccountID: "carol"}}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []SentPlaintext{
		{ServerTimestamp: 10, Destination: "bob", Content: []byte("to bob")},
		{ServerTimestamp: 20, Group: "grp", Content: []byte("to grp")},
	} {
		if err := s.KeepSent(ctx, &p); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		ts   int64
		from string
		self bool
		want string
	}{
		{10, "bob", false, "to bob"},
		{10, "carol", false, ""},
		{20, "carol", false, "to grp"},
		{20, "bob", false, ""},
		{10, "me", true, "to bob"},
		{30, "bob", false, ""},
	}
	for _, tc := range tests {
		p, err := s.FindSent(ctx, tc.ts, tc.from, tc.self)
		got := ""
		if p != nil {
			got = string(p.Content)
		}
		if err != nil || got != tc.want {
			t.Fatalf("FindSent(%d, %s) = %q, %v; want %q", tc.ts, tc.from, got, err, tc.want)
		}
	}
	now = now.Add(SentKeep + time.Minute)
	if p, err := s.FindSent(ctx, 10, "bob", false); err != nil || p != nil {
		t.Fatalf("FindSent after SentKeep = %v, %v", p, err)
	}
	if err := s.PruneSent(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sent_plaintexts`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d plaintexts left after pruning (%v)", n, err)
	}
}
