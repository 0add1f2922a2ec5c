package keys

import (
	"net/http"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/httpx"
)

// Routes registers the key routes; authn authenticates a device.
func (s *Service) Routes(r *httpx.Router, authn httpx.Middleware) {
	r.Handle("PUT /v1/keys", s.handleUpload, authn)
	r.Handle("GET /v1/keys/count", s.handleCount, authn)
	r.Handle("GET /v1/keys/{account_id}/{device_id}", s.handleBundle, authn)
}

func (s *Service) handleUpload(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	var set api.SetKeys
	if err := httpx.DecodeJSON(w, r, httpx.DefaultBodyLimit, &set); err != nil {
		return err
	}
	if err := s.Upload(r.Context(), dev, &set); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleCount(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	c, err := s.Count(r.Context(), dev)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, c)
	return nil
}

func (s *Service) handleBundle(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	account, err := httpx.AccountID(r.PathValue("account_id"))
	if err != nil {
		return err
	}
	var device uint32
	if d := r.PathValue("device_id"); d != "*" {
		n, ok := httpx.ParseDeviceID(d)
		if !ok {
			return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "device_id must be * or a number from 1 to %d", httpx.MaxDeviceID)
		}
		device = n
	}
	b, err := s.Bundle(r.Context(), dev, account, device)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, b)
	return nil
}
