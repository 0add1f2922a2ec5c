package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/coder/websocket"

	"github.com/hushmsg/hush/envelope/wire"
)

// ProvisioningSocket is the unauthenticated socket of a device being
// linked (GET /v1/provisioning). The server gives it an address, relays
// one provisioning message to it, then closes it.
type ProvisioningSocket struct {
	conn *websocket.Conn
	// Address is where the primary PUTs the provisioning message.
	Address string
}

// DialProvisioning opens a provisioning socket and waits for its address.
func (c *Client) DialProvisioning(ctx context.Context) (*ProvisioningSocket, error) {
	h := http.Header{}
	if err := c.decorate(h, false); err != nil {
		return nil, err
	}
	conn, err := c.dial(ctx, "/v1/provisioning", h)
	if err != nil {
		return nil, err
	}
	p := &ProvisioningSocket{conn: conn}
	f, err := p.read(ctx)
	if err != nil {
		conn.CloseNow()
		return nil, err
	}
	if f.Type != wire.TypeProvisioningAddress {
		conn.CloseNow()
		return nil, fmt.Errorf("provisioning socket: got a %q frame before the address", f.Type)
	}
	p.Address = f.Address
	return p, nil
}

// ErrProvisioningClosed means the server closed the provisioning socket
// without a message: the address expired or the server went away.
var ErrProvisioningClosed = errors.New("provisioning socket closed before a provisioning message arrived")

// Wait waits for the provisioning message and returns its opaque body.
// When ctx ends, the socket is closed.
func (p *ProvisioningSocket) Wait(ctx context.Context) ([]byte, error) {
	for {
		f, err := p.read(ctx)
		if err != nil {
			return nil, err
		}
		switch f.Type {
		case wire.TypeProvisioningMessage:
			return f.Body, nil
		case wire.TypeError:
			if f.Error != nil {
				return nil, &APIError{Status: http.StatusBadRequest, Body: *f.Error}
			}
		}
		// Anything else is not for this socket: ignore it, as the protocol
		// asks for unknown frames.
	}
}

func (p *ProvisioningSocket) read(ctx context.Context) (*wire.Frame, error) {
	for {
		_, b, err := p.conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("provisioning socket: %w", ctx.Err())
			}
			if websocket.CloseStatus(err) != -1 {
				return nil, fmt.Errorf("%w (%w)", ErrProvisioningClosed, err)
			}
			return nil, fmt.Errorf("provisioning socket: %w", err)
		}
		f, err := wire.Decode(b)
		if errors.Is(err, wire.ErrUnknownType) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("provisioning socket: %w", err)
		}
		return f, nil
	}
}

// Close closes the socket.
func (p *ProvisioningSocket) Close() error {
	if err := p.conn.CloseNow(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}
