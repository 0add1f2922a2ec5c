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
	"os"
	"strings"
	"sync"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/httptransport"
	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/errorutils"
	"firebase.google.com/go/v4/messaging"
	"google.golang.org/api/option"
)

// fcmScope is the OAuth 2.0 scope for sending through FCM.
const fcmScope = "https://www.googleapis.com/auth/firebase.messaging"

// FCMConfig configures FCM (the HTTP v1 API) with a service account.
type FCMConfig struct {
	// CredentialsFile is the path of the service account's JSON key;
	// CredentialsJSON is its contents instead. Only keys of type
	// "service_account" are accepted.
	CredentialsFile string
	CredentialsJSON []byte
	// ProjectID is the Firebase project (default: the key's project_id).
	ProjectID string
	// Endpoint replaces https://fcm.googleapis.com/v1 (tests).
	Endpoint string
	// HTTPClient carries token requests and sends (tests: one that trusts
	// the fake's certificate). Default: http.DefaultTransport.
	HTTPClient *http.Client
}

// LogValue leaves the credentials out.
func (c FCMConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("credentials_file", c.CredentialsFile),
		slog.String("project_id", c.ProjectID),
		slog.String("endpoint", c.Endpoint))
}

// FCM wakes Android devices through Firebase Cloud Messaging with a
// high-priority data message, through the Firebase Admin SDK.
type FCM struct {
	client *messaging.Client
}

var _ Provider = (*FCM)(nil)

// NewFCM reads the service account key and returns the provider. It does
// not connect: the first Send fetches an access token from the key's
// token_uri.
func NewFCM(ctx context.Context, cfg FCMConfig) (*FCM, error) {
	js := cfg.CredentialsJSON
	if len(js) == 0 {
		if cfg.CredentialsFile == "" {
			return nil, errors.New("fcm: CredentialsFile or CredentialsJSON is required")
		}
		var err error
		if js, err = os.ReadFile(cfg.CredentialsFile); err != nil {
			return nil, fmt.Errorf("fcm: %w", err)
		}
	}
	// Google's libraries accept many kinds of credential files, some of
	// which run commands or fetch URLs: only a service account key here.
	var key struct {
		Type      string `json:"type"`
		ProjectID string `json:"project_id"`
	}
	if err := json.Unmarshal(js, &key); err != nil {
		return nil, errors.New("fcm: credentials are not JSON")
	}
	if key.Type != "service_account" {
		return nil, fmt.Errorf("fcm: credentials of type %q, want a service_account key", key.Type)
	}
	project := cfg.ProjectID
	if project == "" {
		project = key.ProjectID
	}
	if project == "" {
		return nil, errors.New("fcm: ProjectID is required (the key names none)")
	}
	base := cfg.HTTPClient
	if base == nil {
		base = &http.Client{Transport: http.DefaultTransport, Timeout: sendTimeout}
	}
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	creds, err := credentials.NewCredentialsFromJSON(credentials.ServiceAccount, js, &credentials.DetectOptions{
		Scopes:              []string{fcmScope},
		Client:              base,
		DisableAsyncRefresh: true, // refresh within the Send that needs it, under its ctx
	})
	if err != nil {
		return nil, fmt.Errorf("fcm: credentials: %w", err)
	}
	authed, err := httptransport.NewClient(&httptransport.Options{
		Credentials:      creds,
		BaseRoundTripper: rt,
		DisableTelemetry: true,
	})
	if err != nil {
		return nil, fmt.Errorf("fcm: %w", err)
	}
	hc := &http.Client{Transport: fcmOneTry{authed.Transport}, Timeout: base.Timeout, CheckRedirect: noRedirects}
	opts := []option.ClientOption{option.WithHTTPClient(hc)}
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.Endpoint))
	}
	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: project}, opts...)
	if err != nil {
		return nil, fmt.Errorf("fcm: %w", err)
	}
	client, err := app.Messaging(ctx)
	if err != nil {
		return nil, fmt.Errorf("fcm: %w", err)
	}
	return &FCM{client: client}, nil
}

// Kind is KindFCM.
func (f *FCM) Kind() string { return KindFCM }

// Check reports whether the provider sends to r, without sending: a
// registration token of 1 to 4096 printable ASCII characters.
func (f *FCM) Check(r Registration) error {
	if r.Token == "" || len(r.Token) > 4096 || strings.IndexFunc(r.Token, func(c rune) bool { return c <= ' ' || c >= 0x7f }) >= 0 {
		return errors.New("fcm: registration token is not 1 to 4096 printable characters")
	}
	return nil
}

// Send sends the wake to r's registration token: a data message with
// Android priority high (a content-free data message is what may wake an
// app in Doze), collapsing with pending wakes.
func (f *FCM) Send(ctx context.Context, r Registration) error {
	if err := f.Check(r); err != nil {
		return malformed(err)
	}
	ttl := wakeTTL
	msg := &messaging.Message{
		Token: r.Token,
		Data:  map[string]string{"hush": "wake"},
		Android: &messaging.AndroidConfig{
			Priority:    "high",
			TTL:         &ttl,
			CollapseKey: wakeCollapse,
		},
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	try := &fcmTry{cancel: cancel}
	_, err := f.client.Send(context.WithValue(ctx, fcmTryKey{}, try), msg)
	if err == nil {
		return nil
	}
	return try.result(ctx, err, r.Token)
}

// The Admin SDK retries 503s and transport errors itself (up to four
// times, waiting up to two minutes). The dispatcher retries, so one Send
// is one request: fcmOneTry, below the SDK, lets the first request of a
// Send through and cancels the Send's context after it, which ends the
// SDK's wait before a retry; any further request is refused without
// being sent. The first request's outcome is kept to classify the error.

type fcmTryKey struct{}

// fcmTry is the record of one Send's request.
type fcmTry struct {
	cancel context.CancelFunc

	mu     sync.Mutex // guards the following fields
	n      int
	status int
	header http.Header
	err    error
}

var errFCMOneTry = errors.New("fcm: one request per send")

type fcmOneTry struct{ next http.RoundTripper }

func (t fcmOneTry) RoundTrip(req *http.Request) (*http.Response, error) {
	try, _ := req.Context().Value(fcmTryKey{}).(*fcmTry)
	if try == nil {
		return t.next.RoundTrip(req)
	}
	try.mu.Lock()
	try.n++
	first := try.n == 1
	try.mu.Unlock()
	if !first {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errFCMOneTry
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		// Read the answer before cancelling, which would cut it.
		var body []byte
		body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	try.mu.Lock()
	if err != nil {
		try.err = err
	} else {
		try.status, try.header = resp.StatusCode, resp.Header
	}
	try.mu.Unlock()
	try.cancel()
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// result classifies the SDK's error, by what the service said when the SDK
// reports it, else by what the one request got. token is scrubbed from
// messages.
func (t *fcmTry) result(ctx context.Context, err error, token string) error {
	t.mu.Lock()
	status, header, terr := t.status, t.header, t.err
	t.mu.Unlock()
	scrub := func(err error) error {
		if token == "" {
			return err
		}
		return errors.New(strings.ReplaceAll(err.Error(), token, "[token]"))
	}
	if messaging.IsUnregistered(err) {
		return fmt.Errorf("fcm: unregistered: %w", ErrGone)
	}
	if resp := errorutils.HTTPResponse(err); resp != nil {
		status, header = resp.StatusCode, resp.Header
	} else if terr != nil {
		// No answer: the access token could not be had, or the request
		// failed. A token endpoint refusing the key is configuration.
		var ae *auth.Error
		if errors.As(terr, &ae) && ae.Response != nil && ae.Response.StatusCode >= 400 && ae.Response.StatusCode < 500 {
			return fmt.Errorf("fcm: access token refused: %d", ae.Response.StatusCode)
		}
		return transportError("fcm", terr)
	}
	switch {
	case status == 0:
		// No request made (a context already done, a message the SDK
		// refused).
		if ctx.Err() != nil {
			return &RetryError{Err: fmt.Errorf("fcm: %w", context.Cause(ctx))}
		}
		return fmt.Errorf("fcm: %w", scrub(err))
	case status == http.StatusTooManyRequests || status >= 500:
		return &RetryError{After: retryAfter(header), Err: fmt.Errorf("fcm: %d %s", status, http.StatusText(status))}
	default:
		// 400 INVALID_ARGUMENT, 401, 403 SENDER_ID_MISMATCH and the like.
		return fmt.Errorf("fcm: %d: %w", status, scrub(err))
	}
}
