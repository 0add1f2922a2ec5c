package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
)

// TestSlowClients: a client that trickles its headers or body loses the
// connection after --read-timeout, while an idle WebSocket and a slow but
// steady upload part are not cut by it. The timeouts are short here, and
// every wait is for the server to act, bounded by a generous limit.
func TestSlowClients(t *testing.T) {
	t.Parallel()
	const readTimeout = 300 * time.Millisecond
	n := testkit.Start(t, "", func(c *server.Config) { c.ReadTimeout = readTimeout })
	alice, bob := n.Register(t), n.Register(t)
	addr := strings.TrimPrefix(n.URL, "http://")

	// raw sends head on a new connection and returns what the server
	// answers before it closes the connection.
	raw := func(t *testing.T, head string) string {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, head); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		out, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("the server did not close the connection: %v (read %q)", err, out)
		}
		return string(out)
	}

	t.Run("headers never finished", func(t *testing.T) {
		if out := raw(t, "GET /healthz HTTP/1.1\r\nHost: hush\r\n"); strings.Contains(out, "200 OK") {
			t.Fatalf("answered: %q", out)
		}
	})
	t.Run("body never finished", func(t *testing.T) {
		out := raw(t, "POST /v1/registration/code HTTP/1.1\r\nHost: hush\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"number\":")
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
		if err != nil {
			t.Fatalf("no answer: %v (%q)", err, out)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), `"error":"`+api.CodeTimeout+`"`) {
			t.Fatalf("answer %d %s, want 408 %s", resp.StatusCode, body, api.CodeTimeout)
		}
	})
	t.Run("an idle WebSocket outlives the read timeout", func(t *testing.T) {
		ws := n.Connect(t, alice)
		time.Sleep(4 * readTimeout)
		msg := testkit.Send(bob.AccountID, []byte("still here"), bob)
		ws.Write(&wire.Frame{Type: wire.TypeSend, RequestID: "1", Send: &msg})
		for {
			f := ws.Read()
			if f.Type == wire.TypeSendResult {
				if f.Status != http.StatusOK {
					t.Fatalf("send over the idle socket: %+v", f.Error)
				}
				return
			}
		}
	})
	t.Run("an upload part may take longer than the read timeout", func(t *testing.T) {
		var up api.Upload
		n.MustDo(t, alice, "POST", "/v1/attachments", api.NewAttachment{Size: 30}, http.StatusCreated, &up)
		pr, pw := io.Pipe()
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			for i := range 3 {
				if i > 0 {
					time.Sleep(2 * readTimeout)
				}
				if _, err := pw.Write([]byte("0123456789")); err != nil {
					return
				}
			}
			pw.Close()
		}()
		req, err := http.NewRequestWithContext(t.Context(), "PUT", n.URL+up.Parts[0].URL, pr) // relative on the embedded store
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = 30
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("slow part: %d %s", resp.StatusCode, body)
		}
		n.MustDo(t, alice, "POST", "/v1/attachments/"+up.ID+"/complete", nil, http.StatusOK, nil)
	})
}
