package main

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
	"github.com/hushmsg/hush/internal/webpush"
)

// Wake-up pushes: hushd wakes a device that has no connection when an
// urgent envelope is stored for it, once per absence, through the service
// the device registered (push register), with no content but the marker
// {"hush":"wake"} (Web Push). Woken, a device connects and drains its
// mailbox. hush push listen is a UnifiedPush distributor of its own: it
// serves the Web Push endpoint it registers and drains when woken.

// registerFlags are push register's flags: one kind of registration and
// its fields.
type registerFlags struct {
	unifiedPush, apns, fcm, wns string
	topic                       string
	sandbox                     bool
}

// registration checks the flags and returns the registration they ask
// for; a Web Push one gets its keys from registerPush.
func (f registerFlags) registration() (*api.PushRegistration, error) {
	var reg *api.PushRegistration
	set := 0
	for _, k := range []struct {
		flag, value string
		reg         api.PushRegistration
	}{
		{"unifiedpush", f.unifiedPush, api.PushRegistration{Kind: api.PushWebPush, Endpoint: f.unifiedPush}},
		{"apns", f.apns, api.PushRegistration{Kind: api.PushAPNs, Token: f.apns, Topic: f.topic, Sandbox: f.sandbox}},
		{"fcm", f.fcm, api.PushRegistration{Kind: api.PushFCM, Token: f.fcm}},
		{"wns", f.wns, api.PushRegistration{Kind: api.PushWNS, ChannelURI: f.wns}},
	} {
		if k.value == "" {
			continue
		}
		set++
		reg = &k.reg
	}
	switch {
	case set == 0:
		return nil, usageErrorf("push register: give one of --unifiedpush URL, --apns TOKEN, --fcm TOKEN and --wns CHANNEL_URI")
	case set > 1:
		return nil, usageErrorf("push register: give only one of --unifiedpush, --apns, --fcm and --wns")
	case reg.Kind != api.PushAPNs && (f.topic != "" || f.sandbox):
		return nil, usageErrorf("push register: --topic and --sandbox go with --apns only")
	}
	switch reg.Kind {
	case api.PushWebPush:
		if err := checkPushURL(reg.Endpoint); err != nil {
			return nil, usageErrorf("push register: --unifiedpush: %v", err)
		}
	case api.PushWNS:
		if err := checkPushURL(reg.ChannelURI); err != nil {
			return nil, usageErrorf("push register: --wns: %v", err)
		}
	}
	return reg, nil
}

// checkPushURL checks the shape of an endpoint or channel URI; the server
// decides which hosts it posts to. The error never holds the URL.
func checkPushURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return errors.New("not an absolute http(s) URL without user info")
	}
	return nil
}

// pushKeys are the Web Push subscription keys that open wake-ups.
type pushKeys struct {
	priv *ecdh.PrivateKey
	auth []byte
}

// String hides the keys.
func (k *pushKeys) String() string { return "pushKeys(REDACTED)" }

// GoString hides the keys from %#v.
func (k *pushKeys) GoString() string { return k.String() }

// LogValue hides the keys.
func (k *pushKeys) LogValue() slog.Value { return slog.StringValue("REDACTED") }

var _ slog.LogValuer = (*pushKeys)(nil)

// newPushKeys makes a fresh P-256 key pair and auth secret (RFC 8291 §2).
func newPushKeys() (*pushKeys, error) {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	auth := make([]byte, webpush.AuthSize)
	if _, err := rand.Read(auth); err != nil {
		return nil, err
	}
	return &pushKeys{priv: priv, auth: auth}, nil
}

// registerPush registers reg with the server and keeps it in the store,
// both or neither (one store transaction around the call). A Web Push
// registration is made with keys, which the store keeps to open its
// wake-ups.
func registerPush(ctx context.Context, st *store.Store, cl *client.Client, reg *api.PushRegistration, keys *pushKeys) error {
	kept := &store.Push{Kind: reg.Kind}
	if reg.Kind == api.PushWebPush {
		reg.P256DH, reg.Auth = keys.priv.PublicKey().Bytes(), keys.auth
		kept.Endpoint, kept.PrivateKey, kept.Auth = store.Secret(reg.Endpoint), keys.priv.Bytes(), keys.auth
	}
	err := st.InTx(ctx, func(ctx context.Context) error {
		if err := st.SetPush(ctx, kept); err != nil {
			return err
		}
		return cl.SetPush(ctx, reg)
	})
	if err != nil {
		return pushError(reg.Kind, err)
	}
	return nil
}

// unregisterPush removes the registration from the server and the store.
func unregisterPush(ctx context.Context, st *store.Store, cl *client.Client) error {
	if err := cl.DeletePush(ctx); err != nil {
		return fmt.Errorf("remove the push registration: %w", err)
	}
	return st.DeletePush(ctx)
}

// pushError words a refused registration for people.
func pushError(kind string, err error) error {
	var ae *client.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("register for %s wake-ups: %w", kindName(kind), err)
	}
	switch ae.Body.Code {
	case api.CodePushUnavailable:
		return fmt.Errorf("this server does not send %s wake-ups (its operator has not set them up): %w", kindName(kind), err)
	case api.CodeInvalidKey:
		return fmt.Errorf("the server refused the subscription keys: %w", err)
	case api.CodeEndpointRefused:
		return fmt.Errorf("the server refused the endpoint (it must be an https URL on a public host name, unless hushd runs with --webpush-allow-private): %w", err)
	case api.CodeBadRequest:
		if kind == api.PushWebPush && strings.Contains(ae.Body.Message, "endpoint") {
			return fmt.Errorf("the server refused the endpoint (it must be a public https URL, unless hushd runs with --webpush-allow-private): %w", err)
		}
		return fmt.Errorf("the server refused the %s registration: %w", kindName(kind), err)
	}
	return fmt.Errorf("register for %s wake-ups: %w", kindName(kind), err)
}

// kindName names a kind of registration for people.
func kindName(kind string) string {
	switch kind {
	case api.PushAPNs:
		return "APNs"
	case api.PushFCM:
		return "FCM"
	case api.PushWebPush:
		return "Web Push (UnifiedPush)"
	case api.PushWNS:
		return "WNS"
	}
	return kind
}

// endpointOrigin shows where an endpoint or channel URI points without its
// path, query or fragment, which are credentials.
func endpointOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "…"
	}
	return u.Scheme + "://" + u.Host + "/…"
}
