package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// WNS defaults.
const (
	wnsTokenURL = "https://login.live.com/accesstoken.srf"
	wnsScope    = "notify.windows.com"
	wnsHost     = "notify.windows.com" // channel URIs are on its subdomains
)

// WNSConfig configures the Windows Push Notification Services.
type WNSConfig struct {
	PackageSID   string // the app's package SID ("ms-app://s-1-15-2-..."): the client id
	ClientSecret string
	// TokenURL replaces https://login.live.com/accesstoken.srf; Scope
	// replaces "notify.windows.com" (for Microsoft Entra ID tokens,
	// "https://wns.windows.com/.default" at the tenant's token URL).
	TokenURL string
	Scope    string
	// TTL is how long WNS keeps an undelivered wake (default 24 hours).
	TTL        time.Duration
	HTTPClient *http.Client // default: a client that follows no redirects
	// AllowInsecure accepts channel URIs over http:// and on any host
	// (tests only). Otherwise they must be https:// URLs on a subdomain
	// of notify.windows.com.
	AllowInsecure bool
}

// LogValue leaves the secret out.
func (c WNSConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("package_sid", c.PackageSID),
		slog.String("token_url", c.TokenURL),
		slog.Duration("ttl", c.TTL),
		slog.Bool("allow_insecure", c.AllowInsecure))
}

// WNS wakes Windows apps with a raw notification.
type WNS struct {
	form          url.Values // the token request
	tokenURL      string
	ttl           string
	client        *http.Client
	allowInsecure bool

	// tokenSem (capacity 1) guards tok and makes one token request at a
	// time; waiting for it honours ctx.
	tokenSem chan struct{}
	tok      wnsToken
}

// wnsToken is an access token; it never appears in logs or errors.
type wnsToken struct {
	value   string
	expires time.Time
}

func (wnsToken) LogValue() slog.Value { return slog.StringValue("[redacted]") }

var _ Provider = (*WNS)(nil)

// NewWNS returns the provider. It does not connect: the first Send asks
// for an access token.
func NewWNS(cfg WNSConfig) (*WNS, error) {
	if cfg.PackageSID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("wns: PackageSID and ClientSecret are required")
	}
	tokenURL, scope, ttl := cfg.TokenURL, cfg.Scope, cfg.TTL
	if tokenURL == "" {
		tokenURL = wnsTokenURL
	}
	if scope == "" {
		scope = wnsScope
	}
	if ttl <= 0 {
		ttl = wakeTTL
	}
	if u, err := url.Parse(tokenURL); err != nil || (u.Scheme != "https" && !(cfg.AllowInsecure && u.Scheme == "http")) || u.Host == "" {
		return nil, errors.New("wns: TokenURL must be an https URL")
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: sendTimeout}
	}
	cc := *client
	cc.CheckRedirect = noRedirects
	return &WNS{
		form: url.Values{
			"grant_type":    {"client_credentials"},
			"client_id":     {cfg.PackageSID},
			"client_secret": {cfg.ClientSecret},
			"scope":         {scope},
		},
		tokenURL:      tokenURL,
		ttl:           strconv.Itoa(int(ttl / time.Second)),
		client:        &cc,
		allowInsecure: cfg.AllowInsecure,
		tokenSem:      make(chan struct{}, 1),
	}, nil
}

// Kind is KindWNS.
func (w *WNS) Kind() string { return KindWNS }

// Check reports whether the provider sends to r, without sending: a
// channel URI that is an https:// URL on a subdomain of
// notify.windows.com, without user info (any http(s) URL with
// AllowInsecure). The error wraps ErrEndpointRefused and never contains
// the URI.
func (w *WNS) Check(r Registration) error {
	if w.allowInsecure {
		return checkTarget("wns channel URI", r.ChannelURI, true, true, nil)
	}
	return checkTarget("wns channel URI", r.ChannelURI, false, false, func(host string) bool {
		return strings.HasSuffix(host, "."+wnsHost)
	})
}

// Send posts a raw notification to r's channel. When WNS says the access
// token is no longer good (401), Send gets a new one and posts once more.
// A channel Check refuses is not posted to (a permanent error).
func (w *WNS) Send(ctx context.Context, r Registration) error {
	if err := w.Check(r); err != nil {
		return malformed(err)
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	var used string
	for try := 0; ; try++ {
		tok, err := w.token(ctx, used)
		if err != nil {
			return err
		}
		used = tok
		resp, err := w.post(ctx, r.ChannelURI, tok)
		if err != nil {
			return transportError("wns", err)
		}
		drain(resp)
		switch s := resp.StatusCode; {
		case s == http.StatusOK:
			return nil
		case s == http.StatusUnauthorized && try == 0:
			continue
		case s == http.StatusNotFound || s == http.StatusGone:
			// 404: not a channel WNS knows; 410: the channel expired.
			return fmt.Errorf("wns: %d: %w", s, ErrGone)
		case s == http.StatusNotAcceptable || s == http.StatusTooManyRequests || s >= 500:
			// 406 is WNS's "throttle limit exceeded".
			return &RetryError{After: retryAfter(resp.Header), Err: fmt.Errorf("wns: %d", s)}
		default:
			// 400, 401 with a fresh token, 403 (channel of another
			// app), 413: the request or configuration.
			return fmt.Errorf("wns: %d %.100q", s, resp.Header.Get("X-WNS-Error-Description"))
		}
	}
}

func (w *WNS) post(ctx context.Context, channel, tok string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, channel, bytes.NewReader(wakeBody))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-WNS-Type", "wns/raw")
	// Raw notifications are dropped for an offline device unless cached;
	// WNS keeps the latest one.
	req.Header.Set("X-WNS-Cache-Policy", "cache")
	req.Header.Set("X-WNS-TTL", w.ttl)
	return w.client.Do(req)
}

// token returns a current access token other than stale, asking for one
// when there is none.
func (w *WNS) token(ctx context.Context, stale string) (string, error) {
	select {
	case w.tokenSem <- struct{}{}:
	case <-ctx.Done():
		return "", &RetryError{Err: fmt.Errorf("wns: access token: %w", context.Cause(ctx))}
	}
	defer func() { <-w.tokenSem }()
	if w.tok.value != "" && w.tok.value != stale && time.Now().Before(w.tok.expires) {
		return w.tok.value, nil
	}
	tok, err := w.fetchToken(ctx)
	if err != nil {
		return "", err
	}
	w.tok = tok
	return tok.value, nil
}

// fetchToken asks for an access token (OAuth 2.0 client credentials,
// RFC 6749 §4.4).
func (w *WNS) fetchToken(ctx context.Context) (wnsToken, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.tokenURL, strings.NewReader(w.form.Encode()))
	if err != nil {
		return wnsToken{}, fmt.Errorf("wns: access token: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := w.client.Do(req)
	if err != nil {
		return wnsToken{}, transportError("wns: access token", err)
	}
	defer drain(resp)
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return wnsToken{}, transportError("wns: access token", err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
	}
	_ = json.Unmarshal(body, &tr)
	switch s := resp.StatusCode; {
	case s == http.StatusOK && tr.AccessToken != "":
	case s == http.StatusTooManyRequests || s >= 500:
		return wnsToken{}, &RetryError{After: retryAfter(resp.Header), Err: fmt.Errorf("wns: access token: %d", s)}
	default:
		// The error code (RFC 6749 §5.2) is safe to show; the
		// description may echo the request.
		return wnsToken{}, fmt.Errorf("wns: access token refused: %d %.40q", s, tr.Error)
	}
	life := time.Duration(tr.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Hour
	}
	// Renew a little early, so a token does not expire in flight.
	life -= min(life/10, 5*time.Minute)
	return wnsToken{value: tr.AccessToken, expires: time.Now().Add(life)}, nil
}
