package envelope

import (
	"testing"

	"github.com/hushmsg/hush/internal/bus"
)

// TestHubIndexesByAccount: an event for a whole account reaches that
// account's connections and no other; a newer connection of a device
// displaces the older, whose late removal leaves the newer in place.
func TestHubIndexesByAccount(t *testing.T) {
	h := newHub()
	closed := map[*conn]bool{}
	mk := func(acct string, dev uint32) *conn {
		c := &conn{key: deviceKey{acct, dev}, wake: func() {}}
		c.close = func(int, string) { closed[c] = true }
		return c
	}
	a1, a2, b1 := mk("a", 1), mk("a", 2), mk("b", 1)
	for _, c := range []*conn{a1, a2, b1} {
		h.add(c)
	}
	if n := h.count(); n != 3 {
		t.Fatalf("count = %d, want 3", n)
	}
	got := map[*conn]bool{}
	for _, c := range h.matching(bus.Event{Kind: bus.Mailbox, Account: "a"}) {
		got[c] = true
	}
	if len(got) != 2 || !got[a1] || !got[a2] {
		t.Fatalf("account a's event reached %v, want a1 and a2", got)
	}
	if cs := h.matching(bus.Event{Kind: bus.Mailbox, Account: "b", Device: 1}); len(cs) != 1 || cs[0] != b1 {
		t.Fatalf("device b/1's event reached %v", cs)
	}
	a1new := mk("a", 1)
	h.add(a1new)
	if !closed[a1] || h.count() != 3 || h.get(deviceKey{"a", 1}) != a1new {
		t.Fatalf("a newer connection of a/1: old closed %v, count %d", closed[a1], h.count())
	}
	h.remove(a1) // the displaced one, late
	if h.get(deviceKey{"a", 1}) != a1new || h.count() != 3 {
		t.Fatal("removing the displaced connection removed the newer one")
	}
	for _, c := range []*conn{a1new, a2, b1} {
		h.remove(c)
	}
	if h.count() != 0 || len(h.conns) != 0 {
		t.Fatalf("after removing all: count %d, %d accounts indexed", h.count(), len(h.conns))
	}
	if cs := h.matching(bus.Event{Kind: bus.Mailbox, Account: "a"}); len(cs) != 0 {
		t.Fatalf("an empty hub matched %v", cs)
	}
}
