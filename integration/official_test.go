package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hushmsg/hush/internal/oracle"
)

// official drives clients on the official libsignal (integration/oracle/
// driver.cjs) by JSON lines: one command, one answer.
type official struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startOfficial(t *testing.T) *official {
	t.Helper()
	cmd := oracle.Command(t, filepath.Join("oracle", "driver.cjs"))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &testLog{t: t, prefix: "official: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	o := &official{t: t, cmd: cmd, in: in, out: sc}
	t.Cleanup(func() {
		in.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return o
}

// do sends one command and decodes the answer into out (may be nil); a
// command that fails fails the test.
func (o *official) do(out any, cmd string, args map[string]any) {
	o.t.Helper()
	if err := o.try(out, cmd, args); err != nil {
		o.t.Fatalf("official %s: %v", cmd, err)
	}
}

func (o *official) try(out any, cmd string, args map[string]any) error {
	o.t.Helper()
	req := map[string]any{"cmd": cmd}
	for k, v := range args {
		req[k] = v
	}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := o.in.Write(append(b, '\n')); err != nil {
		return err
	}
	if !o.out.Scan() {
		return fmt.Errorf("driver closed: %v", o.out.Err())
	}
	line := o.out.Bytes()
	var status struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(line, &status); err != nil {
		return fmt.Errorf("answer %q: %w", line, err)
	}
	if !status.OK {
		return fmt.Errorf("%s", status.Error)
	}
	if out != nil {
		return json.Unmarshal(line, out)
	}
	return nil
}

// officialMessage is a message an official client decrypted: kind
// "message" (a DataMessage) or "sync" (a copy of what another device of
// its account sent to Destination).
type officialMessage struct {
	Kind           string `json:"kind"`
	ID             string `json:"id"`
	From           string `json:"from"`
	Device         uint32 `json:"device"`
	Type           int    `json:"type"`
	Group          string `json:"group"`
	Body           string `json:"body"`
	Destination    string `json:"destination"`
	DistributionID string `json:"distribution_id"`
	ChainID        uint32 `json:"chain_id"`
}

type officialTake struct {
	Messages []officialMessage `json:"messages"`
	Errors   []json.RawMessage `json:"errors"`
}

func (o *official) register(who, server, number, code string) string {
	o.t.Helper()
	var r struct {
		AccountID string `json:"account_id"`
	}
	o.do(&r, "register", map[string]any{"who": who, "server": server, "number": number, "code": code})
	o.do(nil, "connect", map[string]any{"who": who})
	return r.AccountID
}

func (o *official) sendText(who, to, text string) {
	o.t.Helper()
	o.do(nil, "send_text", map[string]any{"who": who, "to": to, "text": text})
}

func (o *official) take(who string, n int) officialTake {
	o.t.Helper()
	var r officialTake
	o.do(&r, "take", map[string]any{"who": who, "n": n, "timeout_ms": 30000})
	return r
}

// testLog writes a child's standard error to the test log.
type testLog struct {
	t      *testing.T
	prefix string
}

func (w *testLog) Write(b []byte) (int, error) {
	w.t.Logf("%s%s", w.prefix, b)
	return len(b), nil
}

// TestOfficialClientsThroughHushd: two clients on the official library
// register through the documented API and talk 1:1 through hushd, in the
// content format of docs/protocol.md: the server side of interop, and the
// test client the Go side is checked against.
func TestOfficialClientsThroughHushd(t *testing.T) {
	h := startHushd(t, t.TempDir())
	o := startOfficial(t)
	a := o.register("a", h.URL, "+15550000001", "111111")
	b := o.register("b", h.URL, "+15550000002", "222222")
	const n = 30
	for i := range n {
		o.sendText("a", b, fmt.Sprintf("a->b %d", i))
	}
	got := o.take("b", n)
	if len(got.Errors) > 0 || len(got.Messages) != n {
		t.Fatalf("b got %d messages, errors %s", len(got.Messages), got.Errors)
	}
	for i, m := range got.Messages {
		if want := fmt.Sprintf("a->b %d", i); m.Body != want || m.From != a {
			t.Fatalf("b message %d = %+v, want %q from %s", i, m, want, a)
		}
		if m.Type != 3 {
			t.Fatalf("message %d has type %d, want 3: prekey messages until the first answer", i, m.Type)
		}
	}
	o.sendText("b", a, "b->a")
	if got := o.take("a", 1); len(got.Messages) != 1 || got.Messages[0].Body != "b->a" || got.Messages[0].Type != 2 {
		t.Fatalf("a got %+v", got)
	}
}

// TestInteropOfficialOnly checks the official client's own scenarios among
// official clients only (shuffled and lost 1:1 messages, the last resort,
// a re-registration, groups with a removal, linking and sync copies), so
// that a failure of the Go-to-official scenarios is not the test client's.
func TestInteropOfficialOnly(t *testing.T) {
	e := &interop{t: t, data: t.TempDir(), homes: t.TempDir()}
	e.h = startHushd(t, e.data, "--test-numbers", interopNumber(0)+".."+interopNumber(9)+"="+interopCode,
		"--code-rate-number", "0", "--code-rate-address", "0", "--verify-rate-address", "0",
		"--directory-rate", "0", "--bundle-rate", "0", "--send-rate", "0")
	e.o = startOfficial(t)
	a := e.officialRegister("a", 0, 0) // the last resort only
	b := e.officialRegister("b", 1, 20)
	c := e.officialRegister("c", 2, 20)

	// 1:1, the last resort, shuffled and lost messages both ways.
	e.officialSend("b", interopNumber(0), "b->a first")
	e.officialExpect("a", "message", b, 1, "", []string{"b->a first"})
	const n = 60
	batch := texts("b->a", n)
	e.o.do(nil, "prepare_texts", map[string]any{"who": "b", "to": a, "texts": batch})
	order, _ := shuffled(t, n, 6)
	e.o.do(nil, "send_prepared", map[string]any{"who": "b", "order": order})
	e.officialExpect("a", "message", b, 1, "", pick(batch, order))
	e.o.do(nil, "hold", map[string]any{"who": "b"})
	batch = texts("a->b", n)
	for _, s := range batch {
		e.officialSend("a", b, s)
	}
	waitFor(t, "b to hold the batch", func() bool {
		var r struct{ Held int }
		e.o.do(&r, "held", map[string]any{"who": "b"})
		return r.Held >= n
	})
	order, _ = shuffled(t, n, 6)
	e.o.do(nil, "release", map[string]any{"who": "b", "order": order})
	e.officialExpect("b", "message", a, 1, "", pick(batch, order))

	// A re-registration (a new account for the number) is reported by
	// the other side when it next writes to the number.
	old := a
	if a = e.officialRegister("a", 0, 20); a == old {
		t.Fatalf("registering %s again without a registration lock kept account %s", interopNumber(0), old)
	}
	e.officialSend("b", interopNumber(0), "to the new a")
	if ch := e.identityChanges("b"); !slices.Equal(ch, []string{a}) {
		t.Fatalf("identity changes %q, want [%s]", ch, a)
	}
	e.officialExpect("a", "message", b, 1, "", []string{"to the new a"})

	// A group of three; c is removed and cannot read what follows.
	var grp struct {
		GroupID string `json:"group_id"`
	}
	e.o.do(&grp, "group_create", map[string]any{"who": "a", "members": []string{b, c}})
	for _, who := range []string{"a", "b", "c"} {
		e.o.do(nil, "group_send", map[string]any{"who": who, "group": grp.GroupID, "text": who + " hello"})
	}
	e.officialExpect("a", "message", b, 1, grp.GroupID, []string{"b hello"})
	e.officialExpect("a", "message", c, 1, grp.GroupID, []string{"c hello"})
	e.officialExpect("b", "message", a, 1, grp.GroupID, []string{"a hello"})
	e.officialExpect("b", "message", c, 1, grp.GroupID, []string{"c hello"})
	e.officialExpect("c", "message", a, 1, grp.GroupID, []string{"a hello"})
	before := e.officialExpect("c", "message", b, 1, grp.GroupID, []string{"b hello"})[0]
	e.o.do(nil, "group_remove", map[string]any{"who": "a", "group": grp.GroupID, "account": c})
	e.waitRemoved("c", grp.GroupID)
	e.waitRemoved("b", grp.GroupID)
	e.o.do(nil, "close", map[string]any{"who": "a"}) // so that b's message stays stored
	e.removedCannotRead("c", grp.GroupID, b, before, func() {
		e.o.do(nil, "group_send", map[string]any{"who": "b", "group": grp.GroupID, "text": "b after c left"})
	})

	// Linking: c links a new official device; both get what b sends, and
	// each gets a sync copy of what the other sends.
	var code struct{ Code string }
	e.o.do(&code, "link_start", map[string]any{"who": "c2", "server": e.h.URL})
	e.o.do(nil, "approve", map[string]any{"who": "c", "code": code.Code})
	var linked struct {
		AccountID string `json:"account_id"`
		DeviceID  uint32 `json:"device_id"`
	}
	e.o.do(&linked, "link_finish", map[string]any{"who": "c2"})
	e.o.do(nil, "connect", map[string]any{"who": "c2"})
	if linked.AccountID != c || linked.DeviceID != 2 {
		t.Fatalf("linked as %+v, want device 2 of %s", linked, c)
	}
	e.officialSend("b", c, "to both of c")
	e.officialExpect("c", "message", b, 1, "", []string{"to both of c"})
	e.officialExpect("c2", "message", b, 1, "", []string{"to both of c"})
	e.officialSend("c", b, "from c1")
	e.officialExpect("b", "message", c, 1, "", []string{"from c1"})
	if s := e.officialExpect("c2", "sync", c, 1, "", []string{"from c1"}); s[0].Destination != b {
		t.Fatalf("sync copy to %q, want %s", s[0].Destination, b)
	}
	e.officialSend("c2", b, "from c2")
	e.officialExpect("b", "message", c, 2, "", []string{"from c2"})
	e.officialExpect("c", "sync", c, 2, "", []string{"from c2"})
}
