package devices

import (
	"net/http"
	"strings"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/httpx"
)

// Routes registers the device routes.
func (s *Service) Routes(r *httpx.Router) {
	authn := s.Middleware
	r.Handle("POST /v1/registration/code", s.handleRequestCode)
	r.Handle("POST /v1/registration/verify", s.handleVerify)
	r.Handle("POST /v1/devices/provisioning_code", s.handleProvisioningCode, authn)
	r.Handle("GET /v1/provisioning", s.handleProvisioningSocket)
	r.Handle("PUT /v1/provisioning/{address}", s.handleProvision, authn)
	r.Handle("POST /v1/devices/link", s.handleLink)
	r.Handle("GET /v1/devices", s.handleList, authn)
	r.Handle("DELETE /v1/devices/{device_id}", s.handleRemove, authn)
	r.Handle("GET /v1/directory/{number}", s.handleLookup, authn)
	r.Handle("PUT /v1/account/registration-lock", s.handleSetRegistrationLock, authn)
	r.Handle("DELETE /v1/account/registration-lock", s.handleDeleteRegistrationLock, authn)
	r.Handle("GET /v1/account/privacy", s.Presence.handleGetPrivacy, authn)
	r.Handle("PUT /v1/account/privacy", s.Presence.handlePutPrivacy, authn)
	r.Handle("GET /v1/accounts/{id}/last_seen", s.Presence.handleLastSeen, authn)
}

// parseUser splits a Basic-auth user "<account_id>.<device_id>".
func parseUser(user string) (auth.Device, bool) {
	acct, dev, ok := strings.Cut(user, ".")
	if !ok {
		return auth.Device{}, false
	}
	if _, err := httpx.AccountID(acct); err != nil {
		return auth.Device{}, false
	}
	n, ok := httpx.ParseDeviceID(dev)
	if !ok {
		return auth.Device{}, false
	}
	return auth.Device{AccountID: acct, DeviceID: n}, true
}

// Middleware authenticates the request's device by HTTP Basic auth and puts
// it in the request context; a wrong credential is 401.
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		if !ok {
			httpx.WriteError(w, r, s.log, errUnauthorized)
			return
		}
		dev, err := s.Authenticate(r.Context(), user, password)
		if err != nil {
			httpx.WriteError(w, r, s.log, err)
			return
		}
		s.Presence.Touch(r.Context(), dev.AccountID)
		next.ServeHTTP(w, r.WithContext(auth.With(r.Context(), dev)))
	})
}

func (s *Service) handleRequestCode(w http.ResponseWriter, r *http.Request) error {
	var req api.RequestCode
	if err := httpx.DecodeJSON(w, r, httpx.DefaultBodyLimit, &req); err != nil {
		return err
	}
	ttl, err := s.RequestCode(r.Context(), req.Number, httpx.ClientAddr(r))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusAccepted, api.RequestCodeResult{ExpiresIn: int(ttl.Seconds())})
	return nil
}

func (s *Service) handleVerify(w http.ResponseWriter, r *http.Request) error {
	var req api.Verify
	if err := httpx.DecodeJSON(w, r, httpx.DefaultBodyLimit, &req); err != nil {
		return err
	}
	creds, err := s.Verify(r.Context(), &req, httpx.ClientAddr(r))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, creds)
	return nil
}

func (s *Service) handleProvisioningCode(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	code, err := s.NewProvisioningCode(r.Context(), dev)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, api.ProvisioningCode{Code: code.Reveal(), ExpiresIn: int(s.cfg.ProvisioningTTL.Seconds())})
	return nil
}

func (s *Service) handleLink(w http.ResponseWriter, r *http.Request) error {
	var req api.Link
	if err := httpx.DecodeJSON(w, r, httpx.DefaultBodyLimit, &req); err != nil {
		return err
	}
	creds, err := s.Link(r.Context(), &req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, creds)
	return nil
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	list, err := s.List(r.Context(), dev)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, api.DeviceList{Devices: list})
	return nil
}

func (s *Service) handleRemove(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	n, ok := httpx.ParseDeviceID(r.PathValue("device_id"))
	if !ok {
		return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "device_id must be a number from 1 to %d", httpx.MaxDeviceID)
	}
	if err := s.Remove(r.Context(), dev, n); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleLookup(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	id, err := s.Lookup(r.Context(), dev, r.PathValue("number"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, api.Directory{AccountID: id})
	return nil
}

func (s *Service) handleSetRegistrationLock(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	var req api.SetRegistrationLock
	if err := httpx.DecodeJSON(w, r, httpx.DefaultBodyLimit, &req); err != nil {
		return err
	}
	if err := s.SetRegistrationLock(r.Context(), dev, &req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleDeleteRegistrationLock(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	if err := s.DeleteRegistrationLock(r.Context(), dev); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
