package signal_test

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/hushmsg/hush/internal/oracle"
)

// peer is the official libsignal running testdata/peer.cjs: one JSON
// command per line in, one JSON answer per line out.
type peer struct {
	t   testing.TB
	in  io.WriteCloser
	out *bufio.Reader
}

func startPeer(t testing.TB) *peer {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "peer.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := oracle.Command(t, script)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &limitedBuffer{max: 1 << 16}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("peer exited: %v\n%s", err, stderr.b)
		}
	})
	return &peer{t: t, in: in, out: bufio.NewReaderSize(out, 1<<20)}
}

type limitedBuffer struct {
	b   []byte
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// try sends req and decodes the answer into resp; an answer with an
// error field is returned as an error.
func (p *peer) try(req map[string]any, resp any) error {
	p.t.Helper()
	line, err := json.Marshal(req)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.in.Write(append(line, '\n')); err != nil {
		p.t.Fatalf("peer: write: %v", err)
	}
	ans, err := p.out.ReadBytes('\n')
	if err != nil {
		p.t.Fatalf("peer: read: %v", err)
	}
	var e struct {
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(ans, &e); err != nil {
		p.t.Fatalf("peer: answer %q: %v", ans, err)
	}
	if e.Error != nil {
		return errors.New(*e.Error)
	}
	if resp != nil {
		if err := json.Unmarshal(ans, resp); err != nil {
			p.t.Fatalf("peer: answer %q: %v", ans, err)
		}
	}
	return nil
}

// call is try that fails the test on an error answer.
func (p *peer) call(req map[string]any, resp any) {
	p.t.Helper()
	if err := p.try(req, resp); err != nil {
		p.t.Fatalf("peer %v: %v", req["op"], err)
	}
}

// hexBytes is a byte string carried as hex in JSON.
type hexBytes []byte

func (h hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == nil {
		*h = nil
		return nil
	}
	v, err := hex.DecodeString(*s)
	*h = v
	return err
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
