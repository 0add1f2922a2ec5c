package groups

import (
	"net/http"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/httpx"
)

// bodyLimit bounds a group request: a list of account ids.
const bodyLimit = 64 << 10

// Routes registers the group routes; authn authenticates a device. Group
// sends are the envelope package's (POST /v1/groups/{id}/messages).
func (s *Service) Routes(r *httpx.Router, authn httpx.Middleware) {
	r.Handle("POST /v1/groups", s.handleCreate, authn)
	r.Handle("GET /v1/groups", s.handleList, authn)
	r.Handle("GET /v1/groups/{id}", s.handleGet, authn)
	r.Handle("POST /v1/groups/{id}/members", s.handleAdd, authn)
	r.Handle("DELETE /v1/groups/{id}/members/{account}", s.handleRemove, authn)
	r.Handle("POST /v1/groups/{id}/admins", s.handlePromote, authn)
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	var req api.CreateGroup
	if err := httpx.DecodeJSON(w, r, bodyLimit, &req); err != nil {
		return err
	}
	g, err := s.Create(r.Context(), dev, req.Members)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, g)
	return nil
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	gs, err := s.List(r.Context(), dev)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, api.GroupList{Groups: gs})
	return nil
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	g, err := s.Get(r.Context(), dev, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, g)
	return nil
}

func (s *Service) handleAdd(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	var req api.AddMembers
	if err := httpx.DecodeJSON(w, r, bodyLimit, &req); err != nil {
		return err
	}
	g, err := s.Add(r.Context(), dev, r.PathValue("id"), req.Members)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, g)
	return nil
}

func (s *Service) handleRemove(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	if err := s.Remove(r.Context(), dev, r.PathValue("id"), r.PathValue("account")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handlePromote(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	var req api.Promote
	if err := httpx.DecodeJSON(w, r, bodyLimit, &req); err != nil {
		return err
	}
	g, err := s.Promote(r.Context(), dev, r.PathValue("id"), req.AccountID)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, g)
	return nil
}
