package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/hushmsg/hush/internal/api"
)

// AllDevices names every device of an account in Bundle.
const AllDevices uint32 = 0

// Healthz calls GET /healthz: nil while the server process runs.
func (c *Client) Healthz(ctx context.Context) error {
	return c.do(ctx, call{method: http.MethodGet, path: "/healthz"})
}

// Readyz calls GET /readyz: nil when the server can serve requests.
func (c *Client) Readyz(ctx context.Context) error {
	return c.do(ctx, call{method: http.MethodGet, path: "/readyz"})
}

// RequestCode asks the server to send a verification code to number
// (POST /v1/registration/code).
func (c *Client) RequestCode(ctx context.Context, number string) (*api.RequestCodeResult, error) {
	var out api.RequestCodeResult
	err := c.do(ctx, call{method: http.MethodPost, path: "/v1/registration/code", in: api.RequestCode{Number: number}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Verify registers (or re-registers) an account with a verification code
// (POST /v1/registration/verify) and returns the primary's credentials.
func (c *Client) Verify(ctx context.Context, v *api.Verify) (*api.Credentials, error) {
	var out api.Credentials
	if err := c.do(ctx, call{method: http.MethodPost, path: "/v1/registration/verify", in: v, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// ProvisioningCode fetches a one-use code for linking a new device
// (POST /v1/devices/provisioning_code); primary device only.
func (c *Client) ProvisioningCode(ctx context.Context) (*api.ProvisioningCode, error) {
	var out api.ProvisioningCode
	if err := c.do(ctx, call{method: http.MethodPost, path: "/v1/devices/provisioning_code", auth: true, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Provision relays an encrypted provisioning message to the device waiting
// at address (PUT /v1/provisioning/{address}).
func (c *Client) Provision(ctx context.Context, address string, body []byte) error {
	return c.do(ctx, call{
		method: http.MethodPut, path: "/v1/provisioning/" + url.PathEscape(address), auth: true,
		in: api.ProvisioningMessage{Body: body},
	})
}

// Link creates a new device of an account with a provisioning code
// (POST /v1/devices/link) and returns its credentials.
func (c *Client) Link(ctx context.Context, l *api.Link) (*api.Credentials, error) {
	var out api.Credentials
	if err := c.do(ctx, call{method: http.MethodPost, path: "/v1/devices/link", in: l, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Devices lists the account's devices (GET /v1/devices).
func (c *Client) Devices(ctx context.Context) ([]api.Device, error) {
	var out api.DeviceList
	if err := c.do(ctx, call{method: http.MethodGet, path: "/v1/devices", auth: true, out: &out}); err != nil {
		return nil, err
	}
	return out.Devices, nil
}

// RemoveDevice removes a device of the account (DELETE /v1/devices/{id}).
func (c *Client) RemoveDevice(ctx context.Context, deviceID uint32) error {
	return c.do(ctx, call{method: http.MethodDelete, path: "/v1/devices/" + strconv.FormatUint(uint64(deviceID), 10), auth: true})
}

// SetKeys uploads prekeys (PUT /v1/keys).
func (c *Client) SetKeys(ctx context.Context, k *api.SetKeys) error {
	return c.do(ctx, call{method: http.MethodPut, path: "/v1/keys", auth: true, in: k})
}

// KeyCount returns the device's one-time prekeys left (GET /v1/keys/count).
func (c *Client) KeyCount(ctx context.Context) (*api.KeyCount, error) {
	var out api.KeyCount
	if err := c.do(ctx, call{method: http.MethodGet, path: "/v1/keys/count", auth: true, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Bundle claims the prekey bundle of one device of an account, or of every
// device with AllDevices (GET /v1/keys/{account_id}/{device_id|*}).
func (c *Client) Bundle(ctx context.Context, accountID string, deviceID uint32) (*api.Bundle, error) {
	dev := "*"
	if deviceID != AllDevices {
		dev = strconv.FormatUint(uint64(deviceID), 10)
	}
	var out api.Bundle
	if err := c.do(ctx, call{method: http.MethodGet, path: "/v1/keys/" + url.PathEscape(accountID) + "/" + dev, auth: true, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Lookup finds the account registered with an E.164 number
// (GET /v1/directory/{number}).
func (c *Client) Lookup(ctx context.Context, number string) (*api.Directory, error) {
	var out api.Directory
	if err := c.do(ctx, call{method: http.MethodGet, path: "/v1/directory/" + url.PathEscape(number), auth: true, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Send delivers one ciphertext per device (POST /v1/messages). A wrong
// device set is an *APIError with api.CodeMismatchedDevices (409) or
// api.CodeStaleDevices (410) and the details in its Body.
func (c *Client) Send(ctx context.Context, s *api.Send) (*api.SendResult, error) {
	var out api.SendResult
	if err := c.do(ctx, call{method: http.MethodPost, path: "/v1/messages", auth: true, in: s, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateGroup creates a group with this account as its first admin and
// members as the other members (POST /v1/groups).
func (c *Client) CreateGroup(ctx context.Context, members []string) (*api.Group, error) {
	var out api.Group
	if err := c.do(ctx, call{method: http.MethodPost, path: "/v1/groups", auth: true, in: &api.CreateGroup{Members: members}, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// Groups lists this account's groups (GET /v1/groups).
func (c *Client) Groups(ctx context.Context) ([]api.GroupSummary, error) {
	var out api.GroupList
	if err := c.do(ctx, call{method: http.MethodGet, path: "/v1/groups", auth: true, out: &out}); err != nil {
		return nil, err
	}
	return out.Groups, nil
}

// Group returns a group this account is a member of (GET /v1/groups/{id}).
func (c *Client) Group(ctx context.Context, groupID string) (*api.Group, error) {
	var out api.Group
	if err := c.do(ctx, call{method: http.MethodGet, path: groupPath(groupID), auth: true, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// AddMembers adds accounts to a group; admins only
// (POST /v1/groups/{id}/members).
func (c *Client) AddMembers(ctx context.Context, groupID string, members []string) (*api.Group, error) {
	var out api.Group
	if err := c.do(ctx, call{method: http.MethodPost, path: groupPath(groupID) + "/members", auth: true, in: &api.AddMembers{Members: members}, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveMember removes an account from a group: an admin removes anyone,
// a member removes itself (leaves) (DELETE /v1/groups/{id}/members/{account}).
func (c *Client) RemoveMember(ctx context.Context, groupID, accountID string) error {
	return c.do(ctx, call{method: http.MethodDelete, path: groupPath(groupID) + "/members/" + url.PathEscape(accountID), auth: true})
}

// Promote makes a member an admin; admins only (POST /v1/groups/{id}/admins).
func (c *Client) Promote(ctx context.Context, groupID, accountID string) (*api.Group, error) {
	var out api.Group
	if err := c.do(ctx, call{method: http.MethodPost, path: groupPath(groupID) + "/admins", auth: true, in: &api.Promote{AccountID: accountID}, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// GroupSend sends one ciphertext to every other member device of a group
// (POST /v1/groups/{id}/messages). A wrong device set is an *APIError with
// api.CodeMismatchedDevices (409) or api.CodeStaleDevices (410).
func (c *Client) GroupSend(ctx context.Context, groupID string, g *api.GroupSend) (*api.SendResult, error) {
	var out api.SendResult
	if err := c.do(ctx, call{method: http.MethodPost, path: groupPath(groupID) + "/messages", auth: true, in: g, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

func groupPath(id string) string { return "/v1/groups/" + url.PathEscape(id) }

// Privacy returns this account's privacy settings (GET /v1/account/privacy).
func (c *Client) Privacy(ctx context.Context) (*api.Privacy, error) {
	var out api.Privacy
	if err := c.do(ctx, call{method: http.MethodGet, path: "/v1/account/privacy", auth: true, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetPrivacy changes this account's privacy settings
// (PUT /v1/account/privacy).
func (c *Client) SetPrivacy(ctx context.Context, p *api.Privacy) error {
	return c.do(ctx, call{method: http.MethodPut, path: "/v1/account/privacy", auth: true, in: p})
}

// LastSeen returns an account's presence as its setting allows
// (GET /v1/accounts/{id}/last_seen).
func (c *Client) LastSeen(ctx context.Context, accountID string) (*api.Presence, error) {
	var out api.Presence
	if err := c.do(ctx, call{method: http.MethodGet, path: "/v1/accounts/" + url.PathEscape(accountID) + "/last_seen", auth: true, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}
