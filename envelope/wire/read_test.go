package wire_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/hushmsg/hush/envelope/wire"
)

// TestReadReusesBuffers: frames read through the pool decode to what was
// sent, and a frame decoded earlier is not changed by later reads into the
// same buffer, whether small or larger than the pool keeps.
func TestReadReusesBuffers(t *testing.T) {
	sizes := []int{10, 3000, 100 << 10, 10, 5000}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for i, n := range sizes {
			b, _ := wire.Encode(&wire.Frame{Type: wire.TypeProvisioningMessage, Body: bytes.Repeat([]byte{byte('a' + i)}, n)})
			if c.Write(r.Context(), websocket.MessageText, b) != nil {
				return
			}
		}
		_, _, _ = c.Read(r.Context()) // until the client closes
	}))
	defer srv.Close()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(wire.MaxFrameSize)
	var got []*wire.Frame
	for range sizes {
		if err := wire.Read(ctx, c, func(b []byte) error {
			f, err := wire.Decode(b)
			got = append(got, f)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range sizes {
		if want := bytes.Repeat([]byte{byte('a' + i)}, n); !bytes.Equal(got[i].Body, want) {
			t.Errorf("frame %d: body of %d bytes, want %d bytes of %q", i, len(got[i].Body), n, rune('a'+i))
		}
	}
}
