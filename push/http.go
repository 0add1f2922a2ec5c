package push

import (
	"context"
	"crypto/ecdh"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/httpx"
)

// Routes registers the push routes; authn authenticates a device.
func (s *Service) Routes(r *httpx.Router, authn httpx.Middleware) {
	r.Handle("PUT /v1/push", s.handlePut, authn)
	r.Handle("GET /v1/push", s.handleGet, authn)
	r.Handle("DELETE /v1/push", s.handleDelete, authn)
	r.Handle("GET /v1/push/vapid", s.handleVAPID, authn)
}

// Register validates and stores dev's registration, replacing any.
func (s *Service) Register(ctx context.Context, dev auth.Device, req *api.PushRegistration) error {
	reg, err := validate(req)
	if err != nil {
		return err
	}
	p := s.providers[reg.Kind]
	if p == nil {
		return httpx.Errorf(http.StatusBadRequest, api.CodePushUnavailable, "this server does not send %s pushes", reg.Kind)
	}
	// Refuse now what the provider would refuse to send to (an endpoint on
	// a private network, say); its errors never hold the token.
	if c, ok := p.(interface{ Check(Registration) error }); ok {
		if err := c.Check(reg); err != nil {
			code := api.CodeBadRequest
			if errors.Is(err, ErrEndpointRefused) {
				code = api.CodeEndpointRefused
			}
			return httpx.Errorf(http.StatusBadRequest, code, "%v", err)
		}
	}
	data, err := json.Marshal(reg)
	if err != nil {
		return err
	}
	err = s.store.PutPushRegistration(ctx, dev.AccountID, dev.DeviceID, reg.Kind, data, s.now())
	if errors.Is(err, ErrUnknownDevice) {
		return httpx.Errorf(http.StatusUnauthorized, api.CodeUnauthorized, "device removed")
	}
	return err
}

const (
	maxToken = 4096
	maxURL   = 2048
	maxTopic = 255
)

func bad(format string, args ...any) error {
	return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, format, args...)
}

// validate checks a registration's fields for its kind and refuses any
// field of another kind.
func validate(req *api.PushRegistration) (Registration, error) {
	r := Registration{Kind: req.Kind}
	other := func(fields ...bool) bool {
		for _, f := range fields {
			if f {
				return true
			}
		}
		return false
	}
	switch req.Kind {
	case KindAPNs:
		b, err := hex.DecodeString(req.Token)
		if err != nil || len(b) < 8 || len(req.Token) > 200 {
			return r, bad("an APNs token is hex, 16 to 200 digits")
		}
		if len(req.Topic) > maxTopic || strings.IndexFunc(req.Topic, notTopic) >= 0 {
			return r, bad("topic must be a bundle id (letters, digits, '.', '-', '_'), at most %d bytes", maxTopic)
		}
		if other(req.Endpoint != "", req.P256DH != nil, req.Auth != nil, req.ChannelURI != "") {
			return r, bad("an apns registration takes token, topic and sandbox only")
		}
		r.Token, r.Topic, r.Sandbox = strings.ToLower(req.Token), req.Topic, req.Sandbox
	case KindFCM:
		if req.Token == "" || len(req.Token) > maxToken || strings.IndexFunc(req.Token, notTokenRune) >= 0 {
			return r, bad("an FCM token is 1 to %d printable ASCII characters", maxToken)
		}
		if other(req.Topic != "", req.Sandbox, req.Endpoint != "", req.P256DH != nil, req.Auth != nil, req.ChannelURI != "") {
			return r, bad("an fcm registration takes token only")
		}
		r.Token = req.Token
	case KindWebPush:
		if err := checkURL(req.Endpoint, "endpoint"); err != nil {
			return r, err
		}
		if _, err := ecdh.P256().NewPublicKey(req.P256DH); err != nil {
			return r, httpx.Errorf(http.StatusBadRequest, api.CodeInvalidKey, "p256dh must be an uncompressed P-256 public key (65 bytes)")
		}
		if len(req.Auth) != 16 {
			return r, httpx.Errorf(http.StatusBadRequest, api.CodeInvalidKey, "auth must be 16 bytes")
		}
		if other(req.Token != "", req.Topic != "", req.Sandbox, req.ChannelURI != "") {
			return r, bad("a webpush registration takes endpoint, p256dh and auth only")
		}
		r.Endpoint, r.P256DH, r.Auth = req.Endpoint, req.P256DH, req.Auth
	case KindWNS:
		if err := checkURL(req.ChannelURI, "channel_uri"); err != nil {
			return r, err
		}
		if other(req.Token != "", req.Topic != "", req.Sandbox, req.Endpoint != "", req.P256DH != nil, req.Auth != nil) {
			return r, bad("a wns registration takes channel_uri only")
		}
		r.ChannelURI = req.ChannelURI
	default:
		return r, bad("kind must be apns, fcm, webpush or wns")
	}
	return r, nil
}

func notTopic(c rune) bool {
	return !(c < unicode.MaxASCII && (unicode.IsLetter(c) || unicode.IsDigit(c) || strings.ContainsRune(".-_", c)))
}

func notTokenRune(c rune) bool { return c <= ' ' || c >= 0x7f }

// checkURL accepts an absolute http(s) URL; which hosts a provider will
// post to is the provider's rule.
func checkURL(raw, field string) error {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > maxURL || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return bad("%s must be an absolute http(s) URL without user info, of at most %d bytes", field, maxURL)
	}
	return nil
}

func (s *Service) handlePut(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	var req api.PushRegistration
	if err := httpx.DecodeJSON(w, r, 16<<10, &req); err != nil {
		return err
	}
	if err := s.Register(r.Context(), dev, &req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	st, err := s.store.PushRegistration(r.Context(), dev.AccountID, dev.DeviceID)
	if errors.Is(err, ErrNotFound) {
		return httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "this device has no push registration")
	}
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, api.PushStatus{Kind: st.Kind, Created: st.Created.Unix(), Updated: st.Updated.Unix()})
	return nil
}

func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	if err := s.store.DeletePushRegistration(r.Context(), dev.AccountID, dev.DeviceID, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleVAPID(w http.ResponseWriter, _ *http.Request) error {
	if s.vapidKey == "" {
		return httpx.Errorf(http.StatusNotFound, api.CodePushUnavailable, "this server does not send Web Push")
	}
	httpx.WriteJSON(w, http.StatusOK, api.PushVAPID{PublicKey: s.vapidKey})
	return nil
}
