package devices

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/bus"
	"github.com/hushmsg/hush/internal/httpx"
)

// maxProvisioningMessage bounds a provisioning message.
const maxProvisioningMessage = 64 << 10

// handleProvisioningSocket gives a device being linked an address and relays
// the primary's provisioning message to it. Nothing is stored: the address
// lives as long as the socket, at most ProvisioningSocketTTL. Sockets are
// counted per client address and in all, as each holds a connection
// without any credential.
func (s *Service) handleProvisioningSocket(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.CheckUpgrade(r); err != nil {
		return err
	}
	addr := httpx.ClientAddr(r)
	if err := s.takeProvisioning(addr); err != nil {
		return err
	}
	defer s.releaseProvisioning(addr)
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return nil // Accept has answered the client already
	}
	defer c.CloseNow()
	// The new device sends nothing: CloseRead notices when it goes. The
	// lifetime is a timer of its own, not a deadline on that read, which
	// would make the library drop the connection before the close frame
	// that says why.
	ctx := c.CloseRead(r.Context())
	ttl := time.NewTimer(s.cfg.ProvisioningSocketTTL)
	defer ttl.Stop()

	b := make([]byte, 16)
	_, _ = rand.Read(b)
	address := base64.RawURLEncoding.EncodeToString(b)
	ch := make(chan []byte, 1)
	s.mu.Lock()
	s.waiting[address] = ch
	s.mu.Unlock()
	defer s.bus.Watch(bus.ProvisionTopic(address))()
	defer func() {
		s.mu.Lock()
		delete(s.waiting, address)
		s.mu.Unlock()
	}()

	if err := writeFrame(ctx, c, &wire.Frame{Type: wire.TypeProvisioningAddress, Address: address}); err != nil {
		return nil
	}
	select {
	case body := <-ch:
		if err := writeFrame(ctx, c, &wire.Frame{Type: wire.TypeProvisioningMessage, Body: body}); err != nil {
			return nil
		}
		c.Close(websocket.StatusNormalClosure, "provisioned")
	case <-ttl.C:
		c.Close(websocket.StatusNormalClosure, "provisioning address expired")
	case <-ctx.Done(): // the new device went away
	}
	return nil
}

// takeProvisioning counts a provisioning socket from addr, unless addr
// or the node has its maximum.
func (s *Service) takeProvisioning(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if max := s.cfg.MaxProvisioningSockets; max > 0 && s.provTotal >= max {
		s.deniedProvTotal()
		e := httpx.Errorf(http.StatusServiceUnavailable, api.CodeUnavailable, "too many devices are being linked here; retry")
		e.Body.RetryAfter = 10
		return e
	}
	if max := s.cfg.MaxProvisioningPerAddr; max > 0 && s.provAddrs[addr] >= max {
		s.deniedProvAddr()
		return httpx.RateLimited(s.cfg.ProvisioningSocketTTL, "provisioning sockets from this address")
	}
	s.provAddrs[addr]++
	s.provTotal++
	return nil
}

func (s *Service) releaseProvisioning(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.provTotal--
	if s.provAddrs[addr]--; s.provAddrs[addr] <= 0 {
		delete(s.provAddrs, addr)
	}
}

func writeFrame(ctx context.Context, c *websocket.Conn, f *wire.Frame) error {
	b, err := wire.Encode(f)
	if err != nil {
		return err
	}
	return c.Write(ctx, websocket.MessageText, b)
}

func (s *Service) handleProvision(w http.ResponseWriter, r *http.Request) error {
	var req api.ProvisioningMessage
	if err := httpx.DecodeJSON(w, r, 2*maxProvisioningMessage, &req); err != nil {
		return err
	}
	switch {
	case len(req.Body) == 0:
		return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "body must not be empty")
	case len(req.Body) > maxProvisioningMessage:
		return httpx.Errorf(http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge, "body larger than %d bytes", maxProvisioningMessage)
	}
	taken, err := s.bus.Deliver(r.Context(), bus.Event{Kind: bus.Provision, Conn: r.PathValue("address"), Payload: req.Body})
	if err != nil {
		return fmt.Errorf("relay provisioning message: %w", err)
	}
	if !taken {
		return httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "no device waits at that provisioning address")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// onProvision hands a provisioning message to the socket waiting here at
// its address, if any; one message per address.
func (s *Service) onProvision(e bus.Event) bool {
	if e.Kind != bus.Provision {
		return false
	}
	s.mu.Lock()
	ch, ok := s.waiting[e.Conn]
	if ok {
		delete(s.waiting, e.Conn)
	}
	s.mu.Unlock()
	if ok {
		ch <- e.Payload // buffered, and the address was taken out: never blocks
	}
	return ok
}
