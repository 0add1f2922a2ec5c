package devices

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WebhookConfig is the operator's own SMS gateway.
type WebhookConfig struct {
	// URL receives a POST per code (https, or http to loopback).
	URL string
	// Secret keys the HMAC-SHA256 signature of every request (at least
	// 32 bytes).
	Secret Secret
}

// Webhook headers: see docs/operations.md for how to check them.
const (
	// SignatureHeader is "t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
	// "<t>.<body>")>".
	SignatureHeader = "Hush-Signature"
	// DeliveryHeader repeats the message id, the same on every retry.
	DeliveryHeader = "Hush-Delivery"
)

// WebhookBody is the JSON a webhook gets.
type WebhookBody struct {
	ID        string    `json:"id"`
	Number    string    `json:"number"`
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
	Text      string    `json:"text"`
}

// minWebhookSecret is the least secret length (bytes) accepted.
const minWebhookSecret = 32

// webhook posts codes to the operator's gateway, signed.
type webhook struct {
	httpSender
	url    *url.URL
	secret []byte
	client *http.Client
	now    func() time.Time
}

func newWebhook(cfg WebhookConfig, h httpSender, client *http.Client, sent *prometheus.CounterVec) (*webhook, error) {
	u, err := checkURL("--sms-webhook-url", cfg.URL)
	if err != nil {
		return nil, err
	}
	if len(cfg.Secret) < minWebhookSecret {
		return nil, errors.New("--sms-webhook-secret must be at least 32 characters (e.g. openssl rand -hex 32)")
	}
	h.name, h.sent = SMSWebhook, sent
	return &webhook{httpSender: h, url: u, secret: []byte(cfg.Secret.Reveal()), client: client, now: time.Now}, nil
}

// Sign returns the SignatureHeader value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// SendCode implements SMSSender.
func (w *webhook) SendCode(ctx context.Context, m CodeMessage) error {
	body, err := json.Marshal(WebhookBody{ID: m.ID, Number: m.Number, Code: m.Code.Reveal(), ExpiresAt: m.Expires.UTC().Truncate(time.Second), Text: m.Text()})
	if err != nil {
		return err
	}
	return w.post(ctx, m, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url.String(), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "hushd")
		// Signed at each attempt, so a retry carries a fresh time.
		req.Header.Set(SignatureHeader, Sign(w.secret, w.now(), body))
		req.Header.Set(DeliveryHeader, m.ID)
		return req, nil
	}, w.client, nil)
}
