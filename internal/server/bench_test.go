package server_test

import (
	"net/http"
	"testing"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/testkit"
)

// BenchmarkRelay measures one envelope end to end on a real node over
// loopback: a REST send answered after commit, WebSocket delivery, ack.
// One at a time, so it is latency, not throughput (hush-bench measures
// throughput). HUSH_TEST_STORE=postgres runs it on PostgreSQL.
func BenchmarkRelay(b *testing.B) {
	n := testkit.Start(b, "", nil)
	alice, bob := n.Register(b), n.Register(b)
	ws := n.Connect(b, bob)
	for f := ws.Read(); f.Type != wire.TypeQueueEmpty; f = ws.Read() {
	}
	send := testkit.Send(bob.AccountID, make([]byte, 1024), bob)
	b.ReportAllocs()
	for b.Loop() {
		var res api.SendResult
		n.MustDo(b, alice, "POST", "/v1/messages", send, http.StatusOK, &res)
		f := ws.Read()
		for f.Type != wire.TypeEnvelope {
			f = ws.Read()
		}
		ws.Ack(f.Envelope.ID)
	}
}
