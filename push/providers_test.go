package push_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hushmsg/hush/internal/testkit/pushtest"
	"github.com/hushmsg/hush/push"
)

// The tests run each provider against its fake from pushtest: real HTTP
// (HTTP/2 over TLS for APNs), real signatures and tokens, and for Web Push
// messages decrypted with the subscription's keys.

// hangTimeout bounds sends to a fake that never answers: the fake waits
// for the client to give up, so the value only sets how long the test
// waits, not whether it passes.
const hangTimeout = 200 * time.Millisecond

// canary is something no wake may carry; it is passed nowhere, so it
// shows up only if a provider invents content.
const canary = "sender-+15550100"

func check(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func deviceToken(b byte) string { return strings.Repeat(hex.EncodeToString([]byte{b}), 32) }

// outcome names what kind of error err is for the dispatcher.
func outcome(err error) string {
	var re *push.RetryError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, push.ErrGone):
		return "gone"
	case errors.As(err, &re):
		return "retry"
	default:
		return "permanent"
	}
}

// wantOutcome checks err's kind and that it does not give secret away.
func wantOutcome(t *testing.T, err error, want string, secrets ...string) {
	t.Helper()
	if got := outcome(err); got != want {
		t.Fatalf("error %v is %s, want %s", err, got, want)
	}
	for _, s := range secrets {
		if err != nil && s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error %q contains a secret", err)
		}
	}
}

func wantRetryAfter(t *testing.T, err error, after time.Duration) {
	t.Helper()
	var re *push.RetryError
	if !errors.As(err, &re) || re.After != after {
		t.Fatalf("error %v: want a RetryError after %v", err, after)
	}
}

func hangCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	t.Cleanup(cancel)
	return ctx
}

func wantNoCanary(t *testing.T, b []byte) {
	t.Helper()
	if strings.Contains(string(b), canary) {
		t.Fatalf("wake %q carries content", b)
	}
}

// --- APNs ---

func newAPNs(t *testing.T, f *pushtest.APNs, mutate func(*push.APNsConfig)) *push.APNs {
	t.Helper()
	cfg := push.APNsConfig{Key: f.KeyPEM, KeyID: f.KeyID, TeamID: f.TeamID, Topic: f.Topic,
		Host: f.URL, SandboxHost: f.SandboxURL, RootCAs: f.RootCAs}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := push.NewAPNs(cfg)
	noErr(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

func TestAPNs(t *testing.T) {
	t.Parallel()
	f := pushtest.StartAPNs(t)
	p := newAPNs(t, f, nil)
	ctx := context.Background()
	check(t, p.Kind() == push.KindAPNs, "kind %q", p.Kind())

	t.Run("wake", func(t *testing.T) {
		tok := deviceToken(1)
		before := time.Now()
		noErr(t, p.Send(ctx, push.Registration{Kind: push.KindAPNs, Token: tok}))
		got := f.Wait(t, tok, 1)[0]
		check(t, string(got.Payload) == `{"aps":{"content-available":1}}`, "payload %s", got.Payload)
		wantNoCanary(t, got.Payload)
		check(t, !got.Sandbox, "production token went to the sandbox")
		check(t, got.PushType == "background" && got.Priority == "5", "push type %q priority %q", got.PushType, got.Priority)
		check(t, got.CollapseID == "hush-wake" && got.Topic == f.Topic, "collapse id %q topic %q", got.CollapseID, got.Topic)
		exp, err := strconv.ParseInt(got.Expiration, 10, 64)
		noErr(t, err)
		check(t, exp >= before.Unix() && exp <= time.Now().Add(25*time.Hour).Unix(), "apns-expiration %s", got.Expiration)
	})

	t.Run("sandbox", func(t *testing.T) {
		tok := deviceToken(2)
		noErr(t, p.Send(ctx, push.Registration{Kind: push.KindAPNs, Token: tok, Sandbox: true}))
		check(t, f.Wait(t, tok, 1)[0].Sandbox, "sandbox token went to production")
	})

	t.Run("topic", func(t *testing.T) {
		tok := deviceToken(3)
		f.AllowTopic("org.hushmsg.hush.beta")
		noErr(t, p.Send(ctx, push.Registration{Kind: push.KindAPNs, Token: tok, Topic: "org.hushmsg.hush.beta"}))
		check(t, f.Wait(t, tok, 1)[0].Topic == "org.hushmsg.hush.beta", "topic not the registration's")
		// A topic the team may not push to is refused, and is not the
		// device's fault.
		wantOutcome(t, p.Send(ctx, push.Registration{Kind: push.KindAPNs, Token: tok, Topic: "org.example.other"}), "permanent", tok)
	})

	t.Run("gone", func(t *testing.T) {
		tok := deviceToken(4)
		f.Gone(tok)
		wantOutcome(t, p.Send(ctx, push.Registration{Kind: push.KindAPNs, Token: tok}), "gone", tok)
		// A token APNs calls bad (here: not 32 bytes) is gone too.
		wantOutcome(t, p.Send(ctx, push.Registration{Kind: push.KindAPNs, Token: "abcd"}), "gone")
	})

	t.Run("malformed never sent", func(t *testing.T) {
		n := f.Attempts()
		for _, r := range []push.Registration{
			{Kind: push.KindAPNs, Token: "../../3/device/" + deviceToken(5)},
			{Kind: push.KindAPNs, Token: strings.Repeat("ab", 101)},
			{Kind: push.KindAPNs, Token: deviceToken(5), Topic: "org.hushmsg.hush\r\nx-injected: 1"},
		} {
			check(t, p.Check(r) != nil, "Check accepted %q %q", r.Token, r.Topic)
			wantOutcome(t, p.Send(ctx, r), "gone")
		}
		noErr(t, p.Check(push.Registration{Kind: push.KindAPNs, Token: deviceToken(5), Topic: "org.hushmsg.hush"}))
		check(t, f.Attempts() == n, "a malformed registration was sent")
	})

	t.Run("wrong key", func(t *testing.T) {
		other := pushtest.StartAPNs(t)
		bad := newAPNs(t, f, func(c *push.APNsConfig) { c.Key = other.KeyPEM })
		tok := deviceToken(6)
		wantOutcome(t, bad.Send(ctx, push.Registration{Kind: push.KindAPNs, Token: tok}), "permanent", tok)
		check(t, f.Count(tok) == 0, "push with a wrong key accepted")
	})
}

func TestAPNsOutage(t *testing.T) {
	t.Parallel()
	f := pushtest.StartAPNs(t)
	p := newAPNs(t, f, nil)
	tok := deviceToken(7)
	reg := push.Registration{Kind: push.KindAPNs, Token: tok}
	for _, mode := range []pushtest.Mode{pushtest.Unavailable, pushtest.Throttle} {
		f.SetMode(mode)
		wantOutcome(t, p.Send(context.Background(), reg), "retry", tok)
	}
	f.SetMode(pushtest.Hang)
	err := p.Send(hangCtx(t), reg)
	wantOutcome(t, err, "retry", tok)
	check(t, errors.Is(err, context.DeadlineExceeded), "hang: %v, want the deadline", err)
	f.SetMode(pushtest.Deliver)
	noErr(t, p.Send(context.Background(), reg))
	check(t, f.Count(tok) == 1, "count %d after recovery", f.Count(tok))
}

// --- FCM ---

func newFCM(t *testing.T, f *pushtest.FCM, creds []byte) *push.FCM {
	t.Helper()
	if creds == nil {
		creds = f.CredentialsJSON
	}
	p, err := push.NewFCM(context.Background(), push.FCMConfig{CredentialsJSON: creds, Endpoint: f.Endpoint, HTTPClient: f.Client})
	noErr(t, err)
	return p
}

func TestFCM(t *testing.T) {
	t.Parallel()
	f := pushtest.StartFCM(t)
	p := newFCM(t, f, nil)
	ctx := context.Background()
	check(t, p.Kind() == push.KindFCM, "kind %q", p.Kind())

	t.Run("wake", func(t *testing.T) {
		tok := "fcm-token-1:" + strings.Repeat("x", 140)
		noErr(t, p.Send(ctx, push.Registration{Kind: push.KindFCM, Token: tok}))
		noErr(t, p.Send(ctx, push.Registration{Kind: push.KindFCM, Token: tok}))
		got := f.Wait(t, tok, 2)[0]
		var msg map[string]any
		noErr(t, json.Unmarshal(got.Raw, &msg))
		want := map[string]any{
			"token":   tok,
			"data":    map[string]any{"hush": "wake"},
			"android": map[string]any{"priority": "high", "ttl": "86400s", "collapse_key": "hush-wake"},
		}
		check(t, reflect.DeepEqual(msg, want), "message %s", got.Raw)
		check(t, !got.HasNotification, "a wake with a notification block")
		wantNoCanary(t, got.Raw)
		check(t, f.TokenRequests() == 1, "%d access tokens for two sends", f.TokenRequests())
	})

	t.Run("gone", func(t *testing.T) {
		tok := "fcm-token-gone"
		f.Gone(tok)
		wantOutcome(t, p.Send(ctx, push.Registration{Kind: push.KindFCM, Token: tok}), "gone", tok)
	})

	t.Run("key not accepted", func(t *testing.T) {
		var sa map[string]any
		noErr(t, json.Unmarshal(f.CredentialsJSON, &sa))
		sa["client_email"] = "someone-else@hush-test.iam.gserviceaccount.com"
		creds, err := json.Marshal(sa)
		noErr(t, err)
		bad := newFCM(t, f, creds)
		tok := "fcm-token-2"
		wantOutcome(t, bad.Send(ctx, push.Registration{Kind: push.KindFCM, Token: tok}), "permanent", tok)
		check(t, f.Count(tok) == 0, "sent without a token")
	})

	t.Run("malformed never sent", func(t *testing.T) {
		n := f.Attempts()
		for _, tok := range []string{"", "with space", strings.Repeat("x", 4097)} {
			r := push.Registration{Kind: push.KindFCM, Token: tok}
			check(t, p.Check(r) != nil, "Check accepted %q", tok)
			wantOutcome(t, p.Send(ctx, r), "gone")
		}
		check(t, f.Attempts() == n, "a malformed token was sent")
	})

	t.Run("only service accounts", func(t *testing.T) {
		_, err := push.NewFCM(ctx, push.FCMConfig{CredentialsJSON: []byte(`{"type":"external_account","audience":"x"}`)})
		check(t, err != nil, "external_account credentials accepted")
	})
}

func TestFCMOutage(t *testing.T) {
	t.Parallel()
	f := pushtest.StartFCM(t)
	p := newFCM(t, f, nil)
	tok := "fcm-token-outage"
	reg := push.Registration{Kind: push.KindFCM, Token: tok}
	// The Admin SDK would retry 503s and transport errors itself: each
	// Send must still be one request.
	for _, mode := range []pushtest.Mode{pushtest.Unavailable, pushtest.Throttle} {
		f.SetMode(mode)
		n := f.Attempts()
		err := p.Send(context.Background(), reg)
		wantOutcome(t, err, "retry", tok)
		wantRetryAfter(t, err, pushtest.RetryAfter)
		check(t, f.Attempts() == n+1, "mode %d: %d requests for one send", mode, f.Attempts()-n)
	}
	f.SetMode(pushtest.Hang)
	n := f.Attempts()
	err := p.Send(hangCtx(t), reg)
	wantOutcome(t, err, "retry", tok)
	check(t, errors.Is(err, context.DeadlineExceeded), "hang: %v, want the deadline", err)
	check(t, f.Attempts() == n+1, "hang: %d requests for one send", f.Attempts()-n)
	f.SetMode(pushtest.Deliver)
	noErr(t, p.Send(context.Background(), reg))
	check(t, f.Count(tok) == 1, "count %d after recovery", f.Count(tok))
}

// --- Web Push ---

const subscriber = "mailto:push@hush.example"

func newWebPush(t *testing.T, f *pushtest.WebPush) (*push.WebPush, string) {
	t.Helper()
	pub, priv, err := push.GenerateVAPIDKeys()
	noErr(t, err)
	p, err := push.NewWebPush(push.WebPushConfig{VAPIDPublicKey: pub, VAPIDPrivateKey: priv, Subscriber: subscriber,
		HTTPClient: f.Client, AllowPrivate: true})
	noErr(t, err)
	return p, pub
}

func webReg(endpoint string, p256dh, auth []byte) push.Registration {
	return push.Registration{Kind: push.KindWebPush, Endpoint: endpoint, P256DH: p256dh, Auth: auth}
}

func TestWebPush(t *testing.T) {
	t.Parallel()
	f := pushtest.StartWebPush(t)
	p, pub := newWebPush(t, f)
	f.RequireServerKey(pub)
	ctx := context.Background()
	check(t, p.Kind() == push.KindWebPush, "kind %q", p.Kind())

	t.Run("wake", func(t *testing.T) {
		ep, key, auth := f.Subscribe()
		noErr(t, p.Send(ctx, webReg(ep, key, auth)))
		got := f.Wait(t, ep, 1)[0]
		check(t, string(got.Payload) == `{"hush":"wake"}`, "payload %q", got.Payload)
		wantNoCanary(t, got.Payload)
		check(t, got.Urgency == "high" && got.TTL == "86400" && got.Topic == "hush-wake", "urgency %q TTL %q topic %q", got.Urgency, got.TTL, got.Topic)
		check(t, got.VAPIDKey == pub && got.Subject == subscriber, "VAPID key %q subject %q", got.VAPIDKey, got.Subject)
	})

	t.Run("another server key refused", func(t *testing.T) {
		other, _ := newWebPush(t, f)
		ep, key, auth := f.Subscribe()
		wantOutcome(t, other.Send(ctx, webReg(ep, key, auth)), "permanent", ep)
	})

	t.Run("gone", func(t *testing.T) {
		ep, key, auth := f.Subscribe()
		f.Gone(ep)
		wantOutcome(t, p.Send(ctx, webReg(ep, key, auth)), "gone", ep)
		// An endpoint the service does not know (404) is gone too.
		wantOutcome(t, p.Send(ctx, webReg(f.URL+"/push/unknown", key, auth)), "gone")
	})

	t.Run("malformed keys", func(t *testing.T) {
		ep, key, auth := f.Subscribe()
		n := f.Attempts()
		wantOutcome(t, p.Send(ctx, webReg(ep, key[:33], auth)), "gone", ep)
		wantOutcome(t, p.Send(ctx, webReg(ep, key, auth[:8])), "gone", ep)
		check(t, f.Attempts() == n, "malformed keys sent")
	})
}

func TestWebPushOutage(t *testing.T) {
	t.Parallel()
	f := pushtest.StartWebPush(t)
	p, _ := newWebPush(t, f)
	ep, key, auth := f.Subscribe()
	reg := webReg(ep, key, auth)
	for _, mode := range []pushtest.Mode{pushtest.Unavailable, pushtest.Throttle} {
		f.SetMode(mode)
		err := p.Send(context.Background(), reg)
		wantOutcome(t, err, "retry", ep)
		wantRetryAfter(t, err, pushtest.RetryAfter)
	}
	f.SetMode(pushtest.Hang)
	err := p.Send(hangCtx(t), reg)
	wantOutcome(t, err, "retry", ep)
	check(t, errors.Is(err, context.DeadlineExceeded), "hang: %v, want the deadline", err)
	f.SetMode(pushtest.Deliver)
	noErr(t, p.Send(context.Background(), reg))
	check(t, f.Count(ep) == 1, "count %d after recovery", f.Count(ep))
}

func TestWebPushEndpointRules(t *testing.T) {
	t.Parallel()
	f := pushtest.StartWebPush(t)
	pub, priv, err := push.GenerateVAPIDKeys()
	noErr(t, err)
	// The production configuration: default client, https, public
	// addresses only.
	p, err := push.NewWebPush(push.WebPushConfig{VAPIDPublicKey: pub, VAPIDPrivateKey: priv, Subscriber: subscriber})
	noErr(t, err)
	ep, key, auth := f.Subscribe()
	for _, ep := range []string{
		"http://push.example.com/abc",
		"https://user:pass@push.example.com/abc",
		"https://127.0.0.1/push/abc",
		"https://[::1]/push/abc",
		"https://10.1.2.3/push/abc",
		"https://169.254.169.254/latest/meta-data",
		"https://[::ffff:192.168.0.1]/push/abc",
		"https://100.64.0.1/push/abc",
		"https://localhost:8443/push/abc",
		"https://push.localhost/abc",
		"https://93.184.215.14:8443/up/abc",
		"https://[2606:4700::1111]/up/abc",
		"https://2130706433/push/abc",
		"https://0x7f.1/push/abc",
		"https://198.18.0.1/push/abc",
		"https://[64:ff9b::a00:1]/push/abc",
		"https://[2002:c0a8:1::1]/push/abc",
		"/push/abc",
		"mailto:someone@example.com",
	} {
		err := p.Check(webReg(ep, key, auth))
		check(t, errors.Is(err, push.ErrEndpointRefused), "%s: %v, want refused", ep, err)
		check(t, !strings.Contains(err.Error(), ep), "error %q names the endpoint", err)
	}
	for _, ep := range []string{"https://fcm.googleapis.com/fcm/send/abc", "https://updates.push.services.mozilla.com/wpush/v2/abc", "https://push.example.org:8443/up/abc"} {
		noErr(t, p.Check(webReg(ep, key, auth)))
	}
	n := f.Attempts()
	wantOutcome(t, p.Send(context.Background(), webReg(ep, key, auth)), "permanent", ep)
	check(t, errors.Is(p.Send(context.Background(), webReg(ep, key, auth)), push.ErrEndpointRefused), "loopback endpoint not refused")
	check(t, f.Attempts() == n, "a refused endpoint was posted to")
}

func TestWebPushConfig(t *testing.T) {
	t.Parallel()
	pub, priv, err := push.GenerateVAPIDKeys()
	noErr(t, err)
	pub2, _, err := push.GenerateVAPIDKeys()
	noErr(t, err)
	for name, cfg := range map[string]push.WebPushConfig{
		"mismatched keys": {VAPIDPublicKey: pub2, VAPIDPrivateKey: priv, Subscriber: subscriber},
		"bad private key": {VAPIDPublicKey: pub, VAPIDPrivateKey: "not base64!", Subscriber: subscriber},
		"no subscriber":   {VAPIDPublicKey: pub, VAPIDPrivateKey: priv},
		"http subscriber": {VAPIDPublicKey: pub, VAPIDPrivateKey: priv, Subscriber: "http://hush.example"},
	} {
		_, err := push.NewWebPush(cfg)
		check(t, err != nil, "%s: accepted", name)
		check(t, !strings.Contains(err.Error(), priv), "%s: error %q has the private key", name, err)
	}
	_, err = push.NewWebPush(push.WebPushConfig{VAPIDPublicKey: pub, VAPIDPrivateKey: priv, Subscriber: "https://hush.example/contact"})
	noErr(t, err)
}

// --- WNS ---

func newWNS(t *testing.T, f *pushtest.WNS, secret string) *push.WNS {
	t.Helper()
	if secret == "" {
		secret = f.ClientSecret
	}
	p, err := push.NewWNS(push.WNSConfig{PackageSID: f.PackageSID, ClientSecret: secret, TokenURL: f.TokenURL,
		HTTPClient: f.Client, AllowInsecure: true})
	noErr(t, err)
	return p
}

func wnsReg(ch string) push.Registration {
	return push.Registration{Kind: push.KindWNS, ChannelURI: ch}
}

func TestWNS(t *testing.T) {
	t.Parallel()
	f := pushtest.StartWNS(t)
	p := newWNS(t, f, "")
	ctx := context.Background()
	check(t, p.Kind() == push.KindWNS, "kind %q", p.Kind())

	t.Run("wake", func(t *testing.T) {
		ch := f.Channel()
		noErr(t, p.Send(ctx, wnsReg(ch)))
		noErr(t, p.Send(ctx, wnsReg(ch)))
		got := f.Wait(t, ch, 2)[0]
		check(t, string(got.Body) == `{"hush":"wake"}`, "body %q", got.Body)
		wantNoCanary(t, got.Body)
		check(t, got.Type == "wns/raw", "type %q", got.Type)
		check(t, got.Header.Get("Content-Type") == "application/octet-stream", "content type %q", got.Header.Get("Content-Type"))
		check(t, got.Header.Get("X-WNS-Cache-Policy") == "cache" && got.Header.Get("X-WNS-TTL") == "86400",
			"cache policy %q TTL %q", got.Header.Get("X-WNS-Cache-Policy"), got.Header.Get("X-WNS-TTL"))
		check(t, f.TokenRequests() == 1, "%d access tokens for two sends", f.TokenRequests())
	})

	t.Run("token refreshed on 401", func(t *testing.T) {
		ch := f.Channel()
		asked := f.TokenRequests()
		f.ExpireTokens()
		noErr(t, p.Send(ctx, wnsReg(ch)))
		check(t, f.Count(ch) == 1, "not delivered after the token expired")
		check(t, f.TokenRequests() == asked+1, "%d new tokens, want 1", f.TokenRequests()-asked)
	})

	t.Run("gone", func(t *testing.T) {
		ch := f.Channel()
		f.Gone(ch)
		wantOutcome(t, p.Send(ctx, wnsReg(ch)), "gone", ch)
		// A channel WNS does not know (404) is gone too.
		wantOutcome(t, p.Send(ctx, wnsReg(f.URL+"/w/?token=unknown")), "gone")
	})

	t.Run("wrong secret", func(t *testing.T) {
		const secret = "not-the-secret"
		bad := newWNS(t, f, secret)
		ch := f.Channel()
		wantOutcome(t, bad.Send(ctx, wnsReg(ch)), "permanent", ch, secret)
		check(t, f.Count(ch) == 0, "sent without a token")
	})
}

func TestWNSOutage(t *testing.T) {
	t.Parallel()
	f := pushtest.StartWNS(t)
	p := newWNS(t, f, "")
	ch := f.Channel()
	for _, mode := range []pushtest.Mode{pushtest.Unavailable, pushtest.Throttle} {
		f.SetMode(mode)
		err := p.Send(context.Background(), wnsReg(ch))
		wantOutcome(t, err, "retry", ch)
		wantRetryAfter(t, err, pushtest.RetryAfter)
	}
	f.SetMode(pushtest.Hang)
	err := p.Send(hangCtx(t), wnsReg(ch))
	wantOutcome(t, err, "retry", ch)
	check(t, errors.Is(err, context.DeadlineExceeded), "hang: %v, want the deadline", err)
	f.SetMode(pushtest.Deliver)
	noErr(t, p.Send(context.Background(), wnsReg(ch)))
	check(t, f.Count(ch) == 1, "count %d after recovery", f.Count(ch))
}

func TestWNSChannelRules(t *testing.T) {
	t.Parallel()
	f := pushtest.StartWNS(t)
	p, err := push.NewWNS(push.WNSConfig{PackageSID: f.PackageSID, ClientSecret: f.ClientSecret, TokenURL: f.TokenURL, HTTPClient: f.Client})
	noErr(t, err)
	for _, ch := range []string{
		"http://db5p.notify.windows.com/w/?token=abc",
		"https://notify.windows.com.example.com/w/?token=abc",
		"https://evilnotify.windows.com/w/?token=abc",
		"https://example.com/w/?token=abc",
		"https://user@db5p.notify.windows.com/w/?token=abc",
		f.Channel(),
	} {
		err := p.Check(wnsReg(ch))
		check(t, errors.Is(err, push.ErrEndpointRefused), "%s: %v, want refused", ch, err)
		check(t, !strings.Contains(err.Error(), ch), "error %q names the channel", err)
	}
	for _, ch := range []string{"https://db5p.notify.windows.com/w/?token=BQYAAAB", "https://WNS2-BY3P.NOTIFY.WINDOWS.COM/w/?token=x"} {
		noErr(t, p.Check(wnsReg(ch)))
	}
	ch := f.Channel()
	check(t, errors.Is(p.Send(context.Background(), wnsReg(ch)), push.ErrEndpointRefused), "fake's channel not refused")
	check(t, f.Attempts() == 0 && f.TokenRequests() == 0, "a refused channel was posted to")
}
