package server_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
)

func scrape(t *testing.T, n *testkit.Node) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.DataDir, server.AdminAddrFile))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(strings.TrimSpace(string(b)) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	// Store every envelope first (no direct delivery), to see the store's
	// metrics; direct_test.go covers the other way.
	n := testkit.Start(t, "", func(c *server.Config) { c.Envelope.LiveHold = 0 })
	alice, bob := n.Register(t), n.Register(t)
	ws := n.Connect(t, bob)
	skipKeysLow(t, ws)
	var res api.SendResult
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("m"), bob), http.StatusOK, &res)
	f := ws.Read()
	for f.Type != wire.TypeEnvelope {
		f = ws.Read()
	}
	ws.Ack(f.Envelope.ID)
	testkit.WaitFor(t, "the ack in the metrics", func() bool {
		return strings.Contains(scrape(t, n), "hush_envelopes_acked_total 1\n")
	})
	m := scrape(t, n)
	for _, want := range []string{
		"hush_connections 1\n",
		"hush_envelopes_sent_total 1\n",
		"hush_envelopes_stored_total 1\n",
		"hush_envelopes_delivered_total 1\n",
		"hush_deliver_latency_seconds_count 1\n",
		`hush_store_seconds_count{op="insert"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, secret := range []string{alice.AccountID, bob.AccountID, alice.Password, alice.Number} {
		if strings.Contains(m, secret) {
			t.Errorf("metrics contain an identifier or secret")
		}
	}
}
