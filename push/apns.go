package push

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"
)

// APNsConfig configures APNs with token-based authentication (a .p8 key).
type APNsConfig struct {
	// KeyFile is the path of the .p8 signing key; Key is its PEM
	// contents instead.
	KeyFile string
	Key     []byte
	KeyID   string // the key's id (10 characters)
	TeamID  string // the developer team's id
	// Topic is the app's bundle id, for registrations that name none.
	Topic string
	// Host and SandboxHost replace Apple's production and development
	// hosts (tests). With only Host set, sandbox registrations go there
	// too.
	Host        string
	SandboxHost string
	// RootCAs replaces the system roots (tests).
	RootCAs *x509.CertPool
}

// LogValue leaves the key out.
func (c APNsConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("key_file", c.KeyFile),
		slog.String("key_id", c.KeyID),
		slog.String("team_id", c.TeamID),
		slog.String("topic", c.Topic),
		slog.String("host", c.Host),
		slog.String("sandbox_host", c.SandboxHost))
}

// The APNs wake: a background notification (apns-push-type background,
// priority 5, content-available and nothing else: Apple's rules for a
// background update). The app wakes, connects and fetches. iOS rations
// background notifications; the server sends at most one per device
// until it connects again.
var apnsWake = []byte(`{"aps":{"content-available":1}}`)

// APNs wakes iOS and macOS devices through Apple's HTTP/2 provider API.
type APNs struct {
	prod, dev *apns2.Client
	topic     string
}

var _ Provider = (*APNs)(nil)

// NewAPNs loads the signing key and returns the provider. It does not
// connect: the first Send does.
func NewAPNs(cfg APNsConfig) (*APNs, error) {
	if cfg.KeyID == "" || cfg.TeamID == "" || cfg.Topic == "" {
		return nil, errors.New("apns: KeyID, TeamID and Topic are required")
	}
	var (
		key *ecdsa.PrivateKey
		err error
	)
	switch {
	case len(cfg.Key) > 0:
		key, err = token.AuthKeyFromBytes(cfg.Key)
	case cfg.KeyFile != "":
		key, err = token.AuthKeyFromFile(cfg.KeyFile)
	default:
		return nil, errors.New("apns: KeyFile or Key is required")
	}
	if err != nil {
		// apns2's errors name the problem, never the key's contents.
		return nil, fmt.Errorf("apns: signing key: %w", err)
	}
	// One token for both hosts: apns2 signs a new one every 50 minutes
	// (Apple refuses tokens older than an hour, and new ones more often
	// than every 20 minutes).
	tok := &token.Token{AuthKey: key, KeyID: cfg.KeyID, TeamID: cfg.TeamID}
	prodHost, devHost := apns2.HostProduction, apns2.HostDevelopment
	if cfg.Host != "" {
		prodHost, devHost = cfg.Host, cfg.Host
	}
	if cfg.SandboxHost != "" {
		devHost = cfg.SandboxHost
	}
	return &APNs{
		prod:  apnsClient(tok, prodHost, cfg.RootCAs),
		dev:   apnsClient(tok, devHost, cfg.RootCAs),
		topic: cfg.Topic,
	}, nil
}

// apnsClient is an apns2 client for host with its own HTTP/2 connection.
func apnsClient(tok *token.Token, host string, roots *x509.CertPool) *apns2.Client {
	c := apns2.NewTokenClient(tok)
	c.Host = host
	var only2 http.Protocols // APNs speaks HTTP/2 only
	only2.SetHTTP2(true)
	c.HTTPClient = &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			Protocols:           &only2,
			TLSHandshakeTimeout: 10 * time.Second,
			IdleConnTimeout:     time.Hour, // Apple asks for long-lived connections
			// Health pings find a dead connection before a push does.
			HTTP2: &http.HTTP2Config{SendPingTimeout: apns2.ReadIdleTimeout, PingTimeout: 15 * time.Second},
		},
		Timeout: sendTimeout,
	}
	return c
}

// Kind is KindAPNs.
func (a *APNs) Kind() string { return KindAPNs }

// Close closes idle connections to Apple.
func (a *APNs) Close() error {
	a.prod.CloseIdleConnections()
	a.dev.CloseIdleConnections()
	return nil
}

// client returns the client for r's host: the development host for
// sandbox tokens.
func (a *APNs) client(r Registration) *apns2.Client {
	if r.Sandbox {
		return a.dev
	}
	return a.prod
}

// Check reports whether the provider sends to r, without sending: a hex
// device token of at most 200 digits (it goes into the request path) and
// a topic of printable ASCII.
func (a *APNs) Check(r Registration) error {
	if b, err := hex.DecodeString(r.Token); err != nil || len(b) == 0 || len(r.Token) > 200 {
		return errors.New("apns: device token is not hex, at most 200 digits")
	}
	if len(r.Topic) > 255 || strings.IndexFunc(r.Topic, func(c rune) bool { return c <= ' ' || c >= 0x7f }) >= 0 {
		return errors.New("apns: topic is not a bundle id")
	}
	return nil
}

// Send posts the wake for r's device token, to the development host for
// sandbox tokens. A registration Check refuses is ErrGone.
func (a *APNs) Send(ctx context.Context, r Registration) error {
	if err := a.Check(r); err != nil {
		return malformed(err)
	}
	topic := r.Topic
	if topic == "" {
		topic = a.topic
	}
	n := &apns2.Notification{
		DeviceToken: r.Token,
		Topic:       topic,
		CollapseID:  wakeCollapse,
		Priority:    apns2.PriorityLow, // 5: required for background pushes
		PushType:    apns2.PushTypeBackground,
		Expiration:  time.Now().Add(wakeTTL),
		Payload:     apnsWake,
	}
	res, err := a.client(r).PushWithContext(ctx, n)
	if err != nil {
		return transportError("apns", err)
	}
	return apnsResult(res)
}

// apnsResult maps Apple's answer (status and reason).
func apnsResult(res *apns2.Response) error {
	switch {
	case res.StatusCode == http.StatusOK:
		return nil
	case res.StatusCode == http.StatusGone,
		res.Reason == apns2.ReasonUnregistered, res.Reason == apns2.ReasonExpiredToken,
		res.Reason == apns2.ReasonBadDeviceToken, res.Reason == apns2.ReasonDeviceTokenNotForTopic:
		// A sandbox token sent to production is a BadDeviceToken too:
		// the registration's Sandbox is wrong, so it is of no use.
		return fmt.Errorf("apns: %d %s: %w", res.StatusCode, res.Reason, ErrGone)
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
		return &RetryError{Err: fmt.Errorf("apns: %d %s", res.StatusCode, res.Reason)}
	default:
		// 403 InvalidProviderToken and the like: configuration, not
		// the device.
		return fmt.Errorf("apns: %d %s", res.StatusCode, res.Reason)
	}
}
