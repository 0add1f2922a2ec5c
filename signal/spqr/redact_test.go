package spqr

import (
	"bytes"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"
)

func TestLogRedacted(t *testing.T) {
	t.Parallel()
	a, b := newPair(t, V1, ChainParams{})
	for i := range 50 {
		b.recv(t, i, a.send(t, i))
		a.recv(t, i, b.send(t, i))
	}
	s := mustDecode(t, a.state)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("state", "pq", s, "braid", s.v1, "chain", s.chain, "auth", s.v1.auth)
	out := buf.String()
	for _, secret := range [][]byte{s.v1.auth.rootKey, s.v1.auth.macKey, s.chain.nextRoot, s.chain.links[0].recv.next, testAuthKey} {
		if strings.Contains(out, hex.EncodeToString(secret)) || strings.Contains(out, string(secret)) {
			t.Fatalf("secret in log: %s", out)
		}
	}
	if !strings.Contains(out, "REDACTED") || !strings.Contains(out, "epoch=") {
		t.Fatalf("unexpected log: %s", out)
	}
}
