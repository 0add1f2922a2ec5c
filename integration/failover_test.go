package integration

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/storetest"
	"github.com/hushmsg/hush/internal/testkit"
)

// cluster starts n hushd processes on one fresh PostgreSQL database and
// NATS, and returns them with the database URL.
func cluster(t *testing.T, n int) ([]*hushd, string) {
	t.Helper()
	db, nats := storetest.PostgresURL(t), storetest.NATSURL(t)
	var nodes []*hushd
	for range n {
		nodes = append(nodes, startHushd(t, t.TempDir(), "--db", db, "--nats", nats))
	}
	return nodes, db
}

// rest speaks raw API to a node process.
func rest(h *hushd) *testkit.Node { return &testkit.Node{URL: h.URL} }

// receiver keeps one device's socket open on a live node of its list,
// moving to the next when its node dies, and counts every envelope id it
// gets (acking each).
type receiver struct {
	dev   *testkit.Device
	nodes []*hushd

	mu       sync.Mutex // guards the following fields
	got      map[string]int
	connects int
	sock     *testkit.Socket
	stopped  bool
}

func (r *receiver) run() {
	for i := 0; ; i = (i + 1) % len(r.nodes) {
		s, _, err := rest(r.nodes[i]).Dial(r.dev)
		r.mu.Lock()
		if r.stopped {
			r.mu.Unlock()
			if err == nil {
				s.C.CloseNow()
			}
			return
		}
		if err != nil {
			r.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			continue
		}
		r.sock = s
		r.connects++
		r.mu.Unlock()
		for {
			f, err := s.ReadErr(time.Hour) // ends when the node dies or stop closes it
			if err != nil {
				break
			}
			if f.Type == wire.TypeEnvelope {
				r.mu.Lock()
				r.got[f.Envelope.ID]++
				r.mu.Unlock()
				_ = s.TryAck(f.Envelope.ID)
			}
		}
		i-- // try the same node again first: only a dead one is left
	}
}

func (r *receiver) stop() {
	r.mu.Lock()
	r.stopped = true
	if r.sock != nil {
		r.sock.C.CloseNow()
	}
	r.mu.Unlock()
}

func (r *receiver) missing(ids []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, id := range ids {
		if r.got[id] == 0 {
			n++
		}
	}
	return n
}

func (r *receiver) connections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connects
}

// sendStream posts count envelopes through the first node of its list that
// answers, calling midway half-way, and returns the ids of the sends that
// were answered with success and how many attempts failed on the way.
func sendStream(t *testing.T, from, to *testkit.Device, nodes func() []*hushd, count int, midway func()) (ok []string, failed int) {
	t.Helper()
	node := 0
	for i := 0; i < count; i++ {
		if i == count/2 && midway != nil {
			midway()
		}
		for attempt := 0; ; attempt++ {
			if attempt > 500 {
				t.Fatalf("send %d: no node answered", i)
			}
			ns := nodes()
			status, body, err := rest(ns[node%len(ns)]).DoErr(from, "POST", "/v1/messages", testkit.Send(to.AccountID, []byte{byte(i), byte(i >> 8)}, to))
			if err == nil && status == http.StatusOK {
				var res api.SendResult
				if err := json.Unmarshal(body, &res); err != nil {
					t.Fatal(err)
				}
				ok = append(ok, res.ID)
				break
			}
			failed++
			node++ // that node is down or its database away: the next one
			time.Sleep(10 * time.Millisecond)
		}
	}
	return ok, failed
}

// envelopesLeft asks `hushd stats` how many envelopes the database holds.
func envelopesLeft(t *testing.T, db string) int64 {
	t.Helper()
	out, err := exec.Command(filepath.Join(bin, "hushd"), "stats", "--db", db).Output()
	if err != nil {
		t.Fatalf("hushd stats: %v", err)
	}
	var st map[string]int64
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatal(err)
	}
	return st["envelopes"]
}

// TestMultiNodeDecrypt: devices on three nodes exchange real encrypted
// messages with the reference client.
func TestMultiNodeDecrypt(t *testing.T) {
	nodes, _ := cluster(t, 3)
	homes := t.TempDir()
	alice, bob, bob2 := filepath.Join(homes, "alice"), filepath.Join(homes, "bob"), filepath.Join(homes, "bob2")
	mustHush(t, nodes[0].URL, alice, "register", "+15550000001", "--code", "111111")
	mustHush(t, nodes[1].URL, bob, "register", "+15550000002", "--code", "222222")
	linkDevice(t, nodes[2].URL, bob, bob2)
	text := canary(t)
	mustHush(t, nodes[0].URL, alice, "send", "+15550000002", text)
	for _, c := range []struct {
		node *hushd
		home string
	}{{nodes[1], bob}, {nodes[2], bob2}} {
		if got := bodies(receiveAll(t, c.node.URL, c.home)); len(got) != 1 || got[0] != text {
			t.Fatalf("%s on another node got %v", filepath.Base(c.home), got)
		}
	}
}

// TestKill9ReceiverNode: kill -9 of the node a receiver is connected to, in
// the middle of a stream of sends: the receiver reconnects to another node
// and in the end has every message whose send was answered with success.
func TestKill9ReceiverNode(t *testing.T) {
	nodes, db := cluster(t, 3)
	alice, bob := rest(nodes[0]).RegisterNumber(t, "+15550000001", "111111"), rest(nodes[0]).RegisterNumber(t, "+15550000002", "222222")
	r := &receiver{dev: bob, nodes: []*hushd{nodes[1], nodes[2], nodes[0]}, got: map[string]int{}}
	done := make(chan struct{})
	go func() { defer close(done); r.run() }()
	waitFor(t, "receiver connected", func() bool { return r.connections() > 0 })

	senders := []*hushd{nodes[0], nodes[2]}
	ok, _ := sendStream(t, alice, bob, func() []*hushd { return senders }, 400, func() {
		_ = nodes[1].cmd.Process.Signal(syscall.SIGKILL)
	})
	waitFor(t, "every acknowledged send to be received", func() bool { return r.missing(ok) == 0 })
	// The receiver acks as it goes: the mailbox drains while it runs.
	waitFor(t, "mailbox drained", func() bool { return envelopesLeft(t, db) == 0 })
	r.stop()
	<-done
	if r.connections() < 2 {
		t.Fatalf("receiver connected %d times: the kill did not move it", r.connections())
	}
	t.Logf("%d sends acknowledged, %d distinct received, %d connections", len(ok), len(r.got), r.connections())
}

// TestKill9AndRestartUnderLoad: kill -9 of one node under steady load (the
// sender's and the receiver's), then restart it: nothing acknowledged is
// lost.
func TestKill9AndRestartUnderLoad(t *testing.T) {
	nodes, db := cluster(t, 2)
	alice, bob := rest(nodes[0]).RegisterNumber(t, "+15550000001", "111111"), rest(nodes[0]).RegisterNumber(t, "+15550000002", "222222")
	var mu sync.Mutex
	current := func() []*hushd { mu.Lock(); defer mu.Unlock(); return append([]*hushd(nil), nodes...) }
	r := &receiver{dev: bob, nodes: current(), got: map[string]int{}}
	done := make(chan struct{})
	go func() { defer close(done); r.run() }()
	waitFor(t, "receiver connected", func() bool { return r.connections() > 0 })

	ok, _ := sendStream(t, alice, bob, current, 400, func() {
		old := nodes[0]
		_ = old.cmd.Process.Signal(syscall.SIGKILL)
		restarted := old.restart(t)
		mu.Lock()
		nodes[0] = restarted
		mu.Unlock()
	})
	waitFor(t, "every acknowledged send to be received", func() bool { return r.missing(ok) == 0 })
	waitFor(t, "mailbox drained", func() bool { return envelopesLeft(t, db) == 0 })
	r.stop()
	<-done
}

// TestClientFailsOverToAnotherNode: the reference client, given several
// node URLs, keeps receiving and sending when the node it uses is killed.
func TestClientFailsOverToAnotherNode(t *testing.T) {
	nodes, _ := cluster(t, 3)
	homes := t.TempDir()
	alice, bob := filepath.Join(homes, "alice"), filepath.Join(homes, "bob")
	mustHush(t, nodes[0].URL, alice, "register", "+15550000001", "--code", "111111")
	mustHush(t, nodes[1].URL, bob, "register", "+15550000002", "--code", "222222")

	cmd := exec.Command(filepath.Join(bin, "hush"), "--server", nodes[1].URL+","+nodes[2].URL, "--home", bob,
		"receive", "--json", "--timeout", "5s")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	lines := make(chan received, 10)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m received
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
	}()
	next := func(what string) received {
		t.Helper()
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatalf("receive ended before %s; stderr: %s", what, stderr.String())
			}
			return m
		case <-time.After(60 * time.Second):
			t.Fatalf("no %s; stderr: %s", what, stderr.String())
		}
		return received{}
	}
	mustHush(t, nodes[0].URL, alice, "send", "+15550000002", "before the kill")
	if m := next("first message"); m.Body != "before the kill" {
		t.Fatalf("got %q", m.Body)
	}
	_ = nodes[1].cmd.Process.Signal(syscall.SIGKILL)
	// The sender names the dead node first: it moves on by itself.
	mustHush(t, nodes[1].URL+","+nodes[0].URL, alice, "send", "+15550000002", "after the kill")
	if m := next("message after the kill"); m.Body != "after the kill" {
		t.Fatalf("got %q", m.Body)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("receive: %v; stderr: %s", err, stderr.String())
	}
}

// TestDatabaseRestartUnderLoad: every connection to PostgreSQL is severed
// and refused for a while (what a restart does to its clients), under a
// steady stream of sends: no node exits, sends fail with 503 meanwhile,
// and every send answered with success is delivered.
func TestDatabaseRestartUnderLoad(t *testing.T) {
	db, nats := storetest.PostgresURL(t), storetest.NATSURL(t)
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testkit.NewProxy(t, u.Host)
	u.Host = proxy.Addr
	nodes := []*hushd{
		startHushd(t, t.TempDir(), "--db", u.String(), "--nats", nats),
		startHushd(t, t.TempDir(), "--db", u.String(), "--nats", nats),
	}
	alice := rest(nodes[0]).RegisterNumber(t, "+15550000001", "111111")
	bob := rest(nodes[0]).RegisterNumber(t, "+15550000002", "222222")
	r := &receiver{dev: bob, nodes: []*hushd{nodes[1]}, got: map[string]int{}}
	done := make(chan struct{})
	go func() { defer close(done); r.run() }()
	waitFor(t, "receiver connected", func() bool { return r.connections() > 0 })

	unavailable := 0
	ok, _ := sendStream(t, alice, bob, func() []*hushd { return nodes[:1] }, 300, func() {
		proxy.Down()
		// While it is down, sends are refused fast with 503.
		for range 3 {
			status, _, err := rest(nodes[0]).DoErr(alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("x"), bob))
			if err != nil {
				t.Fatalf("node unreachable during the outage: %v", err)
			}
			if status == http.StatusServiceUnavailable {
				unavailable++
			}
		}
		proxy.Up()
	})
	if unavailable != 3 {
		t.Fatalf("%d of 3 sends during the outage got 503", unavailable)
	}
	waitFor(t, "every acknowledged send to be received", func() bool { return r.missing(ok) == 0 })
	for i, n := range nodes {
		select {
		case err := <-n.done:
			t.Fatalf("node %d exited during the outage: %v\n%s", i, err, n.logText())
		default:
		}
	}
	waitFor(t, "mailbox drained", func() bool { return envelopesLeft(t, db) == 0 })
	r.stop()
	<-done
}
