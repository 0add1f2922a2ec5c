package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
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

// officialMessage is a message an official client decrypted.
type officialMessage struct {
	Kind   string `json:"kind"`
	ID     string `json:"id"`
	From   string `json:"from"`
	Device uint32 `json:"device"`
	Type   int    `json:"type"`
	Group  string `json:"group"`
	Body   string `json:"body"`
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
