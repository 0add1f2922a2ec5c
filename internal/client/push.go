package client

import (
	"context"
	"net/http"

	"github.com/hushmsg/hush/internal/api"
)

// SetPush registers (or replaces) where this device is woken while it has
// no connection (PUT /v1/push). A refused registration is an *APIError
// with api.CodeBadRequest, api.CodeInvalidKey or api.CodePushUnavailable;
// the registration's token or endpoint is never part of an error.
func (c *Client) SetPush(ctx context.Context, r *api.PushRegistration) error {
	return c.do(ctx, call{method: http.MethodPut, path: "/v1/push", auth: true, in: r})
}

// Push returns the kind and dates of this device's push registration
// (GET /v1/push); without one it is an *APIError with api.CodeNotFound.
func (c *Client) Push(ctx context.Context) (*api.PushStatus, error) {
	var out api.PushStatus
	if err := c.do(ctx, call{method: http.MethodGet, path: "/v1/push", auth: true, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeletePush removes this device's push registration, if any
// (DELETE /v1/push).
func (c *Client) DeletePush(ctx context.Context) error {
	return c.do(ctx, call{method: http.MethodDelete, path: "/v1/push", auth: true})
}

// PushVAPID returns the server's VAPID public key, the application server
// key of Web Push and UnifiedPush subscriptions (GET /v1/push/vapid); a
// server without Web Push answers api.CodePushUnavailable.
func (c *Client) PushVAPID(ctx context.Context) (*api.PushVAPID, error) {
	var out api.PushVAPID
	if err := c.do(ctx, call{method: http.MethodGet, path: "/v1/push/vapid", auth: true, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}
