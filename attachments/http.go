package attachments

import (
	"net/http"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/httpx"
)

// Routes registers the attachment routes; authn authenticates a device.
// The filesystem store adds its own signed upload and download routes.
func (s *Service) Routes(r *httpx.Router, authn httpx.Middleware) {
	r.Handle("POST /v1/attachments", s.handleCreate, authn)
	r.Handle("GET /v1/attachments/{id}", s.handleGet, authn)
	r.Handle("DELETE /v1/attachments/{id}", s.handleDelete, authn)
	r.Handle("GET /v1/attachments/{id}/upload", s.handleResume, authn)
	r.Handle("POST /v1/attachments/{id}/complete", s.handleComplete, authn)
	if fs, ok := s.blobs.(interface{ Routes(*httpx.Router) }); ok {
		fs.Routes(r)
	}
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	var req api.NewAttachment
	if err := httpx.DecodeJSON(w, r, 1<<10, &req); err != nil {
		return err
	}
	up, err := s.Create(r.Context(), dev, req.Size)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, up)
	return nil
}

func (s *Service) handleResume(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	up, err := s.Resume(r.Context(), dev, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, up)
	return nil
}

func (s *Service) handleComplete(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	a, err := s.Complete(r.Context(), dev, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, a)
	return nil
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) error {
	a, err := s.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, a)
	return nil
}

func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	if err := s.Delete(r.Context(), dev, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
