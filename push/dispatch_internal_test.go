package push

import (
	"testing"
	"time"
)

// TestBreaker walks a host's breaker through its states with a clock of
// the test's own: closed, open after the failures, half-open with one
// probe while others wait in line, open again when the probe fails, and
// closed when a probe succeeds, which lets the line go.
func TestBreaker(t *testing.T) {
	t.Parallel()
	hs := newHosts(2, 3, time.Minute)
	t0 := time.Unix(1_000_000, 0)
	newJob := func() *job { return &job{host: "webpush push.example"} }
	want := func(what string, got, want admission) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: admission %d, want %d", what, got, want)
		}
	}

	// Closed: two at once, the third waits in line and goes when one ends.
	a, b, c := newJob(), newJob(), newJob()
	adm, _ := hs.admit(a, t0)
	want("first", adm, admitSend)
	adm, _ = hs.admit(b, t0)
	want("second", adm, admitSend)
	adm, _ = hs.admit(c, t0)
	want("over the limit", adm, admitWait)
	next, _, _, _ := hs.done(a, true, t0)
	if next != c || !c.admitted {
		t.Fatalf("the line's job was not handed over")
	}
	// Three failures in a row open the breaker; what waits is held
	// until it may try again.
	d := newJob()
	adm, _ = hs.admit(d, t0)
	want("in line again", adm, admitWait)
	next, _, _, _ = hs.done(b, true, t0)
	if next != d {
		t.Fatalf("d not handed over")
	}
	_, _, later, at := hs.done(c, true, t0)
	if len(later) != 0 || !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("open: later %d at %v", len(later), at)
	}
	e := newJob()
	adm, at = hs.admit(e, t0.Add(time.Second))
	want("while open", adm, admitLater)
	if !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("retry at %v, want the end of the cooldown", at)
	}
	hs.done(d, true, t0) // a send from before it opened fails too

	// Half-open: one probe; the others wait for its outcome.
	t1 := t0.Add(2 * time.Minute)
	adm, _ = hs.admit(e, t1)
	want("probe", adm, admitSend)
	f, g := newJob(), newJob()
	adm, _ = hs.admit(f, t1)
	want("during the probe", adm, admitWait)
	_, _, later, at = hs.done(e, true, t1)
	if len(later) != 1 || later[0] != f || !at.Equal(t1.Add(time.Minute)) {
		t.Fatalf("failed probe: later %v at %v", later, at)
	}
	adm, _ = hs.admit(g, t1.Add(time.Second))
	want("open again", adm, admitLater)

	// A successful probe closes it and lets the line go, up to the limit.
	t2 := t1.Add(2 * time.Minute)
	adm, _ = hs.admit(f, t2)
	want("second probe", adm, admitSend)
	h1, h2, h3 := newJob(), newJob(), newJob()
	for _, j := range []*job{g, h1, h2, h3} {
		adm, _ = hs.admit(j, t2)
		want("waiting for the second probe", adm, admitWait)
	}
	next, more, later, _ := hs.done(f, false, t2)
	if next != g || len(more) != 1 || more[0] != h1 || len(later) != 0 {
		t.Fatalf("closed: next %v more %v later %v", next, more, later)
	}
	adm, _ = hs.admit(h1, t2)
	want("closed, under the limit", adm, admitSend)
}

// TestRelease: a job handed over from the line whose device came online
// gives its place to the next one.
func TestRelease(t *testing.T) {
	t.Parallel()
	hs := newHosts(1, 0, 0)
	now := time.Unix(1_000_000, 0)
	a, b, c := &job{host: "h"}, &job{host: "h"}, &job{host: "h"}
	for _, j := range []*job{a, b, c} {
		hs.admit(j, now)
	}
	next, _, _, _ := hs.done(a, false, now)
	if next != b {
		t.Fatal("b not handed over")
	}
	if hs.release(b) != c {
		t.Fatal("c not handed over on release")
	}
	if n, _, _, _ := hs.done(c, false, now); n != nil {
		t.Fatal("a job out of nowhere")
	}
	if len(hs.m) != 0 {
		t.Fatalf("%d hosts remembered with nothing to remember", len(hs.m))
	}
}

// TestDelayQueueOrder: jobs come out in the order they fall due, not the
// order they went in.
func TestDelayQueueOrder(t *testing.T) {
	t.Parallel()
	ready := make(chan *job)
	q := newDelayQueue(ready)
	done := make(chan struct{})
	left := make(chan []*job)
	go func() { left <- q.run(done) }()
	now := time.Now()
	late, early, never := &job{host: "late"}, &job{host: "early"}, &job{host: "never"}
	q.add(never, now.Add(time.Hour))
	q.add(late, now.Add(20*time.Millisecond))
	q.add(early, now)
	for _, want := range []*job{early, late} {
		if got := <-ready; got != want {
			t.Fatalf("got %s, want %s", got.host, want.host)
		}
	}
	close(done)
	if l := <-left; len(l) != 1 || l[0] != never {
		t.Fatalf("left %v", l)
	}
}

func TestHostOf(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		r    Registration
		want string
	}{
		{Registration{Kind: KindAPNs, Token: "ab"}, "apns"},
		{Registration{Kind: KindFCM, Token: "x"}, "fcm"},
		{Registration{Kind: KindWebPush, Endpoint: "https://push.example:8443/a/b"}, "webpush push.example:8443"},
		{Registration{Kind: KindWNS, ChannelURI: "https://db5.notify.windows.com/?token=x"}, "wns db5.notify.windows.com"},
	} {
		if got := hostOf(c.r); got != c.want {
			t.Errorf("%s: %q, want %q", c.r.Kind, got, c.want)
		}
	}
}
