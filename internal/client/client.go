package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/hushmsg/hush/internal/api"
)

// maxResponse bounds a REST answer read into memory; the largest, a bundle
// of every device, is far below it.
const maxResponse = 4 << 20

// Credentials authenticate one device. Password is shown once by
// registration or linking and never leaves the Client except in the
// Authorization header.
type Credentials struct {
	AccountID string
	DeviceID  uint32
	Password  string
}

// User is the Basic-auth user name: "<account_id>.<device_id>".
func (c Credentials) User() string {
	return c.AccountID + "." + strconv.FormatUint(uint64(c.DeviceID), 10)
}

// String names the device and hides the password.
func (c Credentials) String() string { return c.User() }

// LogValue logs the device and hides the password.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account_id", c.AccountID),
		slog.Uint64("device_id", uint64(c.DeviceID)),
		slog.String("password", "REDACTED"),
	)
}

// Config configures a Client.
type Config struct {
	// BaseURL is the server's http or https URL, e.g. http://127.0.0.1:8080,
	// or several nodes' URLs separated by commas: the client uses one until
	// it stops answering (or answers 502/503/504), then moves to the next.
	BaseURL string
	// HTTPClient carries every request and socket dial; nil means a client
	// without a timeout (cancel through the context). A Timeout set here
	// bounds REST calls and socket dials, never a socket's lifetime.
	HTTPClient *http.Client
	// Credentials authenticate device routes; nil allows open routes only.
	Credentials *Credentials
	// UserAgent is sent with every request when set.
	UserAgent string
}

// Client calls a Hush server (one of several nodes), as one device or
// anonymously. It is safe for concurrent use.
type Client struct {
	bases []*url.URL
	cur   *atomic.Int32 // index of the node in use; shared by copies
	http  *http.Client
	creds *Credentials
	agent string
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	var bases []*url.URL
	for _, raw := range strings.Split(cfg.BaseURL, ",") {
		u, err := parseBase(strings.TrimSpace(raw))
		if err != nil {
			return nil, err
		}
		bases = append(bases, u)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	c := &Client{bases: bases, cur: new(atomic.Int32), http: hc, agent: cfg.UserAgent}
	if cfg.Credentials != nil {
		cr := *cfg.Credentials
		c.creds = &cr
	}
	return c, nil
}

// WithCredentials returns a copy of c that authenticates as cr.
func (c *Client) WithCredentials(cr Credentials) *Client {
	cc := *c
	cc.creds = &cr
	return &cc
}

// Credentials returns the device c authenticates as, if any.
func (c *Client) Credentials() (Credentials, bool) {
	if c.creds == nil {
		return Credentials{}, false
	}
	return *c.creds, true
}

func parseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: base URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q has no host", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: base URL %q: no user info, query or fragment allowed", u.Redacted())
	}
	return u, nil
}

// BaseURL returns the base URL of the node in use.
func (c *Client) BaseURL() string { return c.base().String() }

func (c *Client) base() *url.URL { return c.bases[int(c.cur.Load())%len(c.bases)] }

// failover moves to the next node after the one seen at index from, unless
// another caller moved already. It reports whether there is another node.
func (c *Client) failover(from int32) bool {
	if len(c.bases) < 2 {
		return false
	}
	c.cur.CompareAndSwap(from, (from+1)%int32(len(c.bases)))
	return true
}

// nodeDown reports whether an answer (or its absence) says the node is
// away rather than that the request was wrong.
func nodeDown(resp *http.Response, err error) bool {
	if err != nil {
		return true
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// endpoint joins the base URL, with scheme replaced when set, and an
// already escaped path.
func (c *Client) endpoint(scheme, path string) string {
	u := *c.base()
	if scheme != "" {
		u.Scheme = scheme
	}
	return strings.TrimRight(u.String(), "/") + path
}

// wsScheme maps the base URL's scheme to its WebSocket scheme.
func (c *Client) wsScheme() string {
	if c.base().Scheme == "https" {
		return "wss"
	}
	return "ws"
}

// call is one REST request. in is encoded as JSON when not nil; a 2xx
// answer is decoded into out when out is not nil.
type call struct {
	method string
	path   string // escaped
	auth   bool
	in     any
	out    any
}

func (c *Client) do(ctx context.Context, k call) error {
	var in []byte
	if k.in != nil {
		b, err := json.Marshal(k.in)
		if err != nil {
			return fmt.Errorf("%s %s: encode: %w", k.method, k.path, err)
		}
		in = b
	}
	// Try each node at most once while they answer as if away.
	for tries := 1; ; tries++ {
		at := c.cur.Load()
		resp, err := c.send(ctx, k, in)
		if nodeDown(resp, err) && ctx.Err() == nil && tries < len(c.bases) && c.failover(at) {
			if resp != nil {
				resp.Body.Close()
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", k.method, k.path, err)
		}
		return c.answer(k, resp)
	}
}

func (c *Client) send(ctx context.Context, k call, in []byte) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		body = bytes.NewReader(in)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, c.endpoint("", k.path), body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if err := c.decorate(req.Header, k.auth); err != nil {
		return nil, err
	}
	return c.http.Do(req)
}

// answer reads a response into k.out, or into an *APIError.
func (c *Client) answer(k call, resp *http.Response) error {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", k.method, k.path, err)
	}
	if len(b) > maxResponse {
		return fmt.Errorf("%s %s: answer larger than %d bytes", k.method, k.path, maxResponse)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(resp.StatusCode, b)
	}
	if k.out == nil {
		return nil
	}
	if err := json.Unmarshal(b, k.out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", k.method, k.path, err)
	}
	return nil
}

// decorate adds the user agent and, when auth is set, the Basic credentials.
func (c *Client) decorate(h http.Header, auth bool) error {
	if c.agent != "" {
		h.Set("User-Agent", c.agent)
	}
	if !auth {
		return nil
	}
	if c.creds == nil {
		return ErrNoCredentials
	}
	h.Set("Authorization", basicAuth(*c.creds))
	return nil
}

func basicAuth(cr Credentials) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(cr.User()+":"+cr.Password))
}

// apiError turns an error answer into *APIError; a body that is not the
// documented JSON keeps only a short, printable excerpt as the message.
func apiError(status int, body []byte) error {
	e := &APIError{Status: status}
	if err := json.Unmarshal(body, &e.Body); err != nil || e.Body.Code == "" {
		e.Body = errorsBody(body)
	}
	return e
}

func errorsBody(body []byte) (out api.Error) {
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, string(body))
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	out.Message = s
	return out
}
