package push

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"
)

// What every wake-up carries, whichever the service: nothing but the
// instruction to connect and fetch.
const (
	// wakeCollapse lets a service keep only the latest of pending wakes
	// (APNs apns-collapse-id, FCM collapse_key, Web Push Topic).
	wakeCollapse = "hush-wake"
	// wakeTTL is how long a service keeps an undelivered wake: messages
	// wait on the server, so a late wake still leads to them.
	wakeTTL = 24 * time.Hour
	// sendTimeout bounds one attempt when ctx has no earlier deadline.
	sendTimeout = 30 * time.Second
)

// wakeBody is the body of a Web Push message and of a WNS raw
// notification: a fixed marker, the same for every device and account.
var wakeBody = []byte(`{"hush":"wake"}`)

// ErrEndpointRefused is returned for a Web Push endpoint or WNS channel
// URI that the provider will not send to (scheme, host or address not
// allowed: a server must not POST wherever a client asks). Registration
// should refuse what a provider's Check refuses.
var ErrEndpointRefused = errors.New("push endpoint refused")

// WebPushConfig configures Web Push and UnifiedPush delivery.
type WebPushConfig struct {
	// VAPIDPublicKey (65-octet uncompressed P-256 point) and
	// VAPIDPrivateKey (32-octet scalar), base64url as GenerateVAPIDKeys
	// makes them. Subscriptions are made with the public key.
	VAPIDPublicKey  string
	VAPIDPrivateKey string
	// Subscriber is the contact push services see in the VAPID token:
	// "mailto:ops@example.org" or an https: URL.
	Subscriber string
	// TTL is how long a push service keeps an undelivered wake
	// (default 24 hours).
	TTL time.Duration
	// HTTPClient replaces the default client (tests). The default client
	// refuses to connect to non-public addresses unless AllowPrivate;
	// with HTTPClient set, only literal addresses in endpoints are
	// checked.
	HTTPClient *http.Client
	// AllowInsecure accepts http:// endpoints (tests only).
	AllowInsecure bool
	// AllowPrivate accepts endpoints on loopback, private, link-local
	// and other non-public addresses (tests; UnifiedPush distributors
	// self-hosted on a private network).
	AllowPrivate bool
}

// LogValue leaves the private key out.
func (c WebPushConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("vapid_public_key", c.VAPIDPublicKey),
		slog.String("subscriber", c.Subscriber),
		slog.Duration("ttl", c.TTL),
		slog.Bool("allow_insecure", c.AllowInsecure),
		slog.Bool("allow_private", c.AllowPrivate))
}

// WebPush wakes browsers and UnifiedPush distributors: RFC 8030 delivery of
// an RFC 8291 (aes128gcm) encrypted message, authenticated with RFC 8292
// VAPID (ES256), through github.com/SherClockHolmes/webpush-go.
type WebPush struct {
	opts          webpush.Options // shared, read-only after New
	client        *http.Client
	allowInsecure bool
	allowPrivate  bool
}

var _ Provider = (*WebPush)(nil)

// GenerateVAPIDKeys makes a VAPID key pair, base64url without padding:
// the uncompressed public point (65 octets) and the private scalar (32).
func GenerateVAPIDKeys() (public, private string, err error) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	return base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()),
		base64.RawURLEncoding.EncodeToString(k.Bytes()), nil
}

// NewWebPush checks cfg's keys and contact and returns the provider.
func NewWebPush(cfg WebPushConfig) (*WebPush, error) {
	pub, err := decodeB64URL(cfg.VAPIDPublicKey)
	if err != nil {
		return nil, errors.New("webpush: VAPID public key is not base64url")
	}
	priv, err := decodeB64URL(cfg.VAPIDPrivateKey)
	if err != nil {
		return nil, errors.New("webpush: VAPID private key is not base64url")
	}
	k, err := ecdh.P256().NewPrivateKey(priv)
	if err != nil {
		return nil, errors.New("webpush: VAPID private key is not a P-256 scalar")
	}
	if string(k.PublicKey().Bytes()) != string(pub) {
		return nil, errors.New("webpush: VAPID public key does not match the private key")
	}
	// webpush-go writes "mailto:" before anything not an https: URL.
	sub := cfg.Subscriber
	switch {
	case strings.HasPrefix(sub, "https://"):
	case strings.HasPrefix(sub, "mailto:") && strings.Contains(sub, "@"):
		sub = strings.TrimPrefix(sub, "mailto:")
	default:
		return nil, errors.New(`webpush: Subscriber must be "mailto:address" or an https:// URL`)
	}
	ttl := cfg.TTL
	if ttl <= 0 {
		ttl = wakeTTL
	}
	w := &WebPush{
		opts: webpush.Options{
			Subscriber:      sub,
			Topic:           wakeCollapse,
			TTL:             int(ttl / time.Second),
			Urgency:         webpush.UrgencyHigh,
			VAPIDPublicKey:  base64.RawURLEncoding.EncodeToString(pub),
			VAPIDPrivateKey: base64.RawURLEncoding.EncodeToString(priv),
		},
		client:        guardedClient(cfg.HTTPClient, cfg.AllowPrivate),
		allowInsecure: cfg.AllowInsecure,
		allowPrivate:  cfg.AllowPrivate,
	}
	w.opts.HTTPClient = w.client
	return w, nil
}

// Kind is KindWebPush.
func (w *WebPush) Kind() string { return KindWebPush }

// Check reports whether the provider sends to r, without sending: an
// endpoint that is an absolute https:// URL (http:// with AllowInsecure)
// without user info, whose host is a name, not an IP address, and not a
// localhost name (unless AllowPrivate; names are checked again when
// connecting, against the addresses they resolve to, which must be
// public: see publicAddr), and well-formed keys. A refused endpoint's error wraps
// ErrEndpointRefused. Errors never contain the endpoint.
func (w *WebPush) Check(r Registration) error {
	if err := checkTarget("webpush endpoint", r.Endpoint, w.allowInsecure, w.allowPrivate, nil); err != nil {
		return err
	}
	if len(r.Auth) != 16 {
		return errors.New("webpush: auth secret is not 16 octets")
	}
	if _, err := ecdh.P256().NewPublicKey(r.P256DH); err != nil {
		return errors.New("webpush: p256dh is not an uncompressed P-256 point")
	}
	return nil
}

// Send posts the wake to r's push resource. A registration Check refuses
// is not sent: malformed keys are ErrGone, a refused endpoint is
// permanent.
func (w *WebPush) Send(ctx context.Context, r Registration) error {
	if err := w.Check(r); err != nil {
		return malformed(err)
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	sub := &webpush.Subscription{
		Endpoint: r.Endpoint,
		Keys: webpush.Keys{
			P256dh: base64.StdEncoding.EncodeToString(r.P256DH),
			Auth:   base64.StdEncoding.EncodeToString(r.Auth),
		},
	}
	opts := w.opts
	resp, err := webpush.SendNotificationWithContext(ctx, wakeBody, sub, &opts)
	if err != nil {
		// http.Client reports every failure as an *url.Error; anything
		// else failed before sending (encryption, signing).
		var ue *url.Error
		if !errors.As(err, &ue) {
			return fmt.Errorf("webpush: %w", err)
		}
		return transportError("webpush", err)
	}
	defer drain(resp)
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case s == http.StatusNotFound || s == http.StatusGone:
		return fmt.Errorf("webpush: %d: %w", s, ErrGone)
	case s == http.StatusTooManyRequests || s >= 500:
		return &RetryError{After: retryAfter(resp.Header), Err: fmt.Errorf("webpush: %d", s)}
	default:
		// 400 malformed, 401/403 VAPID refused, 413 too large, 3xx
		// redirects (not followed): our fault or the service's policy.
		return fmt.Errorf("webpush: %d %s", s, http.StatusText(s))
	}
}

// malformed is the error Send returns for a registration its provider's
// Check refused: ErrGone, as it can never be delivered, unless the
// provider's rules refused its endpoint (rules can change).
func malformed(err error) error {
	if errors.Is(err, ErrEndpointRefused) {
		return err
	}
	return fmt.Errorf("%w: %w", err, ErrGone)
}

// transportError is the RetryError for a request that got no answer. It
// drops the URL an *url.Error carries (tokens and endpoints are
// credentials) and keeps refusals by the dialer permanent.
func transportError(service string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, ErrEndpointRefused) {
		return fmt.Errorf("%s: %w", service, err)
	}
	return &RetryError{Err: fmt.Errorf("%s: %w", service, err)}
}

// drain reads a little of what is left of a body so that the connection
// can be reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// retryAfter reads Retry-After (RFC 9110 §10.2.3): seconds or an
// HTTP-date. It returns 0 when absent or unreadable.
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// checkTarget applies the rules for URLs a client gives the server to POST
// to: absolute, https (http with allowInsecure), no user info, a host
// name that is neither an IP address nor localhost (unless allowPrivate),
// and hostOK when given. The error never contains the URL.
func checkTarget(what, raw string, allowInsecure, allowPrivate bool, hostOK func(host string) bool) error {
	refuse := func(why string) error { return fmt.Errorf("%s %s: %w", what, why, ErrEndpointRefused) }
	if len(raw) > 2048 {
		return refuse("is too long")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return refuse("is not an absolute URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowInsecure:
	default:
		return refuse("is not https")
	}
	if u.User != nil {
		return refuse("has user info")
	}
	host := u.Hostname()
	if host == "" {
		return refuse("has no host")
	}
	if hostOK != nil && !hostOK(strings.ToLower(host)) {
		return refuse("is not on an allowed host")
	}
	if allowPrivate {
		return nil
	}
	if numericHost(host) {
		// Push services are reached by name; an address, public or not,
		// is where a client points the server to probe a network.
		return refuse("is an IP address, not a host name")
	}
	if h := strings.TrimSuffix(strings.ToLower(host), "."); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return refuse("is on localhost")
	}
	return nil
}

// numericHost reports whether host is an IP address in any form a
// resolver might take: a literal, or a name whose last label is a number
// (decimal, octal or hex, as inet_aton reads "2130706433" or "0x7f.1");
// no top-level domain is numeric.
func numericHost(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	h := strings.TrimSuffix(host, ".")
	last := h[strings.LastIndexByte(h, '.')+1:]
	if l := strings.ToLower(last); strings.HasPrefix(l, "0x") {
		last = l[2:]
		return strings.Trim(last, "0123456789abcdef") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// guardedClient returns c with redirects not followed, or, when c is nil,
// a client whose dialer refuses non-public addresses unless allowPrivate:
// the check runs on the address actually dialled, after name resolution,
// so a name that resolves to an internal address is refused too.
func guardedClient(c *http.Client, allowPrivate bool) *http.Client {
	if c != nil {
		cc := *c
		cc.CheckRedirect = noRedirects
		return &cc
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			a, err := netip.ParseAddr(host)
			if err != nil || !publicAddr(a) {
				return fmt.Errorf("%s is not a public address: %w", host, ErrEndpointRefused)
			}
			return nil
		}
	}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: sendTimeout,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       90 * time.Second,
			// No proxy: the address check applies to the push
			// service itself. Pass HTTPClient to go through one.
		},
		CheckRedirect: noRedirects,
	}
}

// noRedirects keeps a client from following a push service elsewhere.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
