package push

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kinds of registration.
const (
	KindAPNs    = "apns"
	KindFCM     = "fcm"
	KindWebPush = "webpush" // Web Push / UnifiedPush (RFC 8030, 8291, 8292)
	KindWNS     = "wns"
)

// Registration is where one device is woken. Only the fields of its Kind
// are set. Tokens are secrets: a Registration never appears in logs or
// errors (LogValue redacts it).
type Registration struct {
	Kind string
	// APNs: the device token (hex), the app's topic (bundle id; empty:
	// the server's default) and whether the token is a sandbox one.
	Token   string // also FCM's registration token
	Topic   string
	Sandbox bool
	// Web Push / UnifiedPush: the push resource URL and the user agent's
	// keys (P-256 public key, 65 bytes uncompressed; 16-byte auth secret).
	Endpoint string
	P256DH   []byte
	Auth     []byte
	// WNS: the channel URI.
	ChannelURI string
}

// String redacts: tokens and endpoints are credentials.
func (r Registration) String() string { return "push registration (" + r.Kind + ")" }

// ErrGone is returned by a Provider when the service says the registration
// no longer exists (APNs 410 Unregistered or BadDeviceToken, FCM
// UNREGISTERED, Web Push 404/410, WNS 404/410): it is removed.
var ErrGone = errors.New("push registration gone")

// RetryError is returned by a Provider for an answer worth retrying
// (throttling, 5xx, a transport failure). After is the service's
// Retry-After, or 0 to back off by the dispatcher's own schedule.
type RetryError struct {
	After time.Duration
	Err   error
}

func (e *RetryError) Error() string { return fmt.Sprintf("push: retry later: %v", e.Err) }
func (e *RetryError) Unwrap() error { return e.Err }

// Provider sends content-free wake-ups through one push service. Send
// must carry no message content, no sender and no account id: only the
// fact that the device should connect. Any other error than ErrGone and
// *RetryError is permanent for this attempt (logged and counted).
type Provider interface {
	Kind() string
	Send(ctx context.Context, r Registration) error
}
