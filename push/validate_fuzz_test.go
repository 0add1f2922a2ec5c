package push

import (
	"crypto/ecdh"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/httpx"
)

// FuzzValidate: any registration is either refused with a 400 whose
// message holds none of its secrets, or accepted as one that keeps only
// its kind's fields, is well-formed for that kind, validates again to
// itself, and survives the JSON it is stored as.
func FuzzValidate(f *testing.F) {
	scalar := make([]byte, 32)
	scalar[31] = 7
	k, err := ecdh.P256().NewPrivateKey(scalar)
	if err != nil {
		f.Fatal(err)
	}
	p256 := k.PublicKey().Bytes()
	auth := []byte("0123456789abcdef")
	type seed struct {
		kind, token, topic string
		sandbox            bool
		endpoint           string
		p256dh, auth       []byte
		channel            string
	}
	for _, s := range []seed{
		{kind: KindAPNs, token: strings.Repeat("ab", 32), topic: "org.hush.app"},
		{kind: KindAPNs, token: strings.Repeat("AB", 8), sandbox: true},
		{kind: KindAPNs, token: strings.Repeat("a", 15)},
		{kind: KindAPNs, token: strings.Repeat("ab", 32), topic: "org/hush"},
		{kind: KindAPNs, token: strings.Repeat("ab", 32), endpoint: "https://x/"},
		{kind: KindFCM, token: "fcm:token-ABC_123"},
		{kind: KindFCM, token: "with space"},
		{kind: KindFCM, token: "t", sandbox: true},
		{kind: KindWebPush, endpoint: "https://push.example.com/wpush/v2/abc", p256dh: p256, auth: auth},
		{kind: KindWebPush, endpoint: "http://10.0.0.1:8080/up?x=1", p256dh: p256, auth: auth},
		{kind: KindWebPush, endpoint: "https://u:p@push.example.com/", p256dh: p256, auth: auth},
		{kind: KindWebPush, endpoint: "https://push.example.com/", p256dh: p256[:33], auth: auth},
		{kind: KindWebPush, endpoint: "https://push.example.com/", p256dh: p256, auth: auth[:15]},
		{kind: KindWebPush, endpoint: "//push.example.com/", p256dh: p256, auth: auth},
		{kind: KindWNS, channel: "https://db5.notify.windows.com/?token=AwYAAAB"},
		{kind: KindWNS, channel: "https://db5.notify.windows.com/", token: "x"},
		{kind: KindWNS, channel: "%zz"},
		{kind: "APNS", token: strings.Repeat("ab", 32)},
		{},
	} {
		f.Add(s.kind, s.token, s.topic, s.sandbox, s.endpoint, s.p256dh, s.auth, s.channel)
	}
	f.Fuzz(func(t *testing.T, kind, token, topic string, sandbox bool, endpoint string, p256dh, authKey []byte, channel string) {
		req := &api.PushRegistration{Kind: kind, Token: token, Topic: topic, Sandbox: sandbox,
			Endpoint: endpoint, P256DH: p256dh, Auth: authKey, ChannelURI: channel}
		reg, err := validate(req)
		if err != nil {
			checkRefusal(t, req, err)
			return
		}
		checkAccepted(t, req, reg)
	})
}

// checkRefusal: a refusal is a 400 the client can act on, and never
// repeats a token, URL or key it was given.
func checkRefusal(t *testing.T, req *api.PushRegistration, err error) {
	t.Helper()
	var he *httpx.Error
	if !errors.As(err, &he) {
		t.Fatalf("%+v: refusal %v is not an *httpx.Error (it would be a 500)", req, err)
	}
	if he.Status != http.StatusBadRequest || (he.Body.Code != api.CodeBadRequest && he.Body.Code != api.CodeInvalidKey) {
		t.Fatalf("%+v: refused with %d %s, want 400 %s or %s", req, he.Status, he.Body.Code, api.CodeBadRequest, api.CodeInvalidKey)
	}
	msg := err.Error()
	for _, secret := range []string{req.Token, req.Endpoint, req.ChannelURI,
		string(req.P256DH), string(req.Auth),
		hex.EncodeToString(req.P256DH), hex.EncodeToString(req.Auth),
		base64.StdEncoding.EncodeToString(req.Auth), base64.RawURLEncoding.EncodeToString(req.Auth)} {
		// Short strings turn up in any message by chance.
		if len(secret) >= 12 && strings.Contains(msg, secret) {
			t.Fatalf("refusal %q holds the secret %q", msg, secret)
		}
	}
}

// checkAccepted: what is accepted is well-formed for its kind, holds no
// field of another kind, is stable under validation and reloads from its
// stored JSON unchanged.
func checkAccepted(t *testing.T, req *api.PushRegistration, reg Registration) {
	t.Helper()
	want := Registration{Kind: req.Kind}
	switch req.Kind {
	case KindAPNs:
		if _, err := hex.DecodeString(reg.Token); err != nil || len(reg.Token) < 16 || len(reg.Token) > 200 || reg.Token != strings.ToLower(reg.Token) {
			t.Fatalf("%+v: accepted APNs token %q", req, reg.Token)
		}
		if len(reg.Topic) > maxTopic || strings.IndexFunc(reg.Topic, notTopic) >= 0 {
			t.Fatalf("%+v: accepted topic %q", req, reg.Topic)
		}
		want.Token, want.Topic, want.Sandbox = strings.ToLower(req.Token), req.Topic, req.Sandbox
	case KindFCM:
		if reg.Token == "" || len(reg.Token) > maxToken {
			t.Fatalf("%+v: accepted FCM token of %d bytes", req, len(reg.Token))
		}
		for i := 0; i < len(reg.Token); i++ {
			if c := reg.Token[i]; c <= ' ' || c >= 0x7f {
				t.Fatalf("%+v: accepted FCM token with byte %#x", req, c)
			}
		}
		want.Token = req.Token
	case KindWebPush:
		wantURL(t, req, reg.Endpoint)
		if _, err := ecdh.P256().NewPublicKey(reg.P256DH); err != nil || len(reg.P256DH) != 65 {
			t.Fatalf("%+v: accepted p256dh %x", req, reg.P256DH)
		}
		if len(reg.Auth) != 16 {
			t.Fatalf("%+v: accepted auth of %d bytes", req, len(reg.Auth))
		}
		want.Endpoint, want.P256DH, want.Auth = req.Endpoint, req.P256DH, req.Auth
	case KindWNS:
		wantURL(t, req, reg.ChannelURI)
		want.ChannelURI = req.ChannelURI
	default:
		t.Fatalf("%+v: kind %q accepted", req, req.Kind)
	}
	// Only the kind's own fields, and those as given: a field of another
	// kind is refused, not dropped.
	if !reflect.DeepEqual(reg, want) {
		t.Fatalf("%+v: accepted as %+v, want %+v", req, reg, want)
	}
	again, err := validate(&api.PushRegistration{Kind: reg.Kind, Token: reg.Token, Topic: reg.Topic, Sandbox: reg.Sandbox,
		Endpoint: reg.Endpoint, P256DH: reg.P256DH, Auth: reg.Auth, ChannelURI: reg.ChannelURI})
	if err != nil || !reflect.DeepEqual(again, reg) {
		t.Fatalf("%+v: revalidated as %+v, %v", reg, again, err)
	}
	// Register stores the JSON of reg and the sender reloads it. Through
	// the API every string is valid UTF-8 (the JSON decoder sees to it).
	if utf8.ValidString(reg.Token) && utf8.ValidString(reg.Topic) && utf8.ValidString(reg.Endpoint) && utf8.ValidString(reg.ChannelURI) {
		data, err := json.Marshal(reg)
		if err != nil {
			t.Fatal(err)
		}
		var back Registration
		if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, reg) {
			t.Fatalf("%+v: reloaded as %+v, %v", reg, back, err)
		}
	}
}

func wantURL(t *testing.T, req *api.PushRegistration, raw string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || len(raw) > maxURL || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		t.Fatalf("%+v: accepted URL %q", req, raw)
	}
}
