package gdpr

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/httpx"
)

type ctxKey struct{}

// call is the authenticated admin request in a context, with the account
// it turned out to be about (for the audit entry).
type call struct {
	token   Token
	account string
}

func from(ctx context.Context) *call { c, _ := ctx.Value(ctxKey{}).(*call); return c }

// Require authenticates an admin bearer token with one of roles: 401 for
// a missing or bad token, 403 for another role. Every request it lets
// through is audited afterwards (action: the route, with its status).
func (s *Service) Require(roles ...string) httpx.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			presented, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			t, err := s.Authenticate(r.Context(), presented)
			switch {
			case !ok || errors.Is(err, ErrBadToken):
				w.Header().Set("WWW-Authenticate", `Bearer realm="hush-admin"`)
				httpx.WriteError(w, r, s.log, httpx.Errorf(http.StatusUnauthorized, api.CodeUnauthorized, "a valid admin token is required"))
				return
			case err != nil:
				httpx.WriteError(w, r, s.log, err)
				return
			}
			allowed := false
			for _, role := range roles {
				allowed = allowed || t.Role == role
			}
			if !allowed {
				httpx.WriteError(w, r, s.log, httpx.Errorf(http.StatusForbidden, api.CodeForbidden, "this needs the %s role", strings.Join(roles, " or ")))
				return
			}
			c := &call{token: t}
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
			if err := s.Audit(context.WithoutCancel(r.Context()), t.ID, r.Pattern, c.account, map[string]int{"status": rec.status}); err != nil {
				s.log.Error("audit append failed", "err", err)
			}
		})
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Routes registers the admin API on the admin listener's router.
func (s *Service) Routes(r *httpx.Router) {
	compliance := s.Require(RoleCompliance)
	r.Handle("GET /admin/v1/requests", s.handleRequests, compliance)
	r.Handle("POST /admin/v1/requests", s.handleCreateRequest, compliance)
	r.Handle("POST /admin/v1/requests/{id}/close", s.handleCloseRequest, compliance)
	r.Handle("GET /admin/v1/audit", s.handleAudit, compliance)
	r.Handle("GET /admin/v1/audit/verify", s.handleVerify, compliance)
	r.Handle("GET /admin/v1/whoami", s.handleWhoami, s.Require(RoleCompliance, RoleOperator))
}

// RequestView is a request as the API shows it: Overdue is set for an
// open request past its due date.
type RequestView struct {
	Request
	Overdue bool `json:"overdue"`
}

func (s *Service) handleRequests(w http.ResponseWriter, r *http.Request) error {
	reqs, err := s.Requests(r.Context())
	if err != nil {
		return err
	}
	now := s.now()
	out := make([]RequestView, len(reqs))
	for i, q := range reqs {
		out[i] = RequestView{Request: q, Overdue: q.Status == StatusOpen && now.After(q.Due)}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"requests": out})
	return nil
}

// NewRequest is the body of POST /admin/v1/requests. Received is a day
// (YYYY-MM-DD), default today.
type NewRequest struct {
	Kind     string `json:"kind"`
	Subject  string `json:"subject"`
	Received string `json:"received,omitempty"`
}

func (s *Service) handleCreateRequest(w http.ResponseWriter, r *http.Request) error {
	var req NewRequest
	if err := httpx.DecodeJSON(w, r, 4<<10, &req); err != nil {
		return err
	}
	var received time.Time
	if req.Received != "" {
		d, err := time.Parse(time.DateOnly, req.Received)
		if err != nil || d.After(s.now()) {
			return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "received must be a past day as YYYY-MM-DD")
		}
		received = d
	}
	q, err := s.CreateRequest(r.Context(), from(r.Context()).token.ID, req.Kind, req.Subject, received)
	if err != nil {
		return badOr(err)
	}
	httpx.WriteJSON(w, http.StatusCreated, RequestView{Request: q, Overdue: s.now().After(q.Due)})
	return nil
}

// CloseBody is the body of POST /admin/v1/requests/{id}/close.
type CloseBody struct {
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
}

func (s *Service) handleCloseRequest(w http.ResponseWriter, r *http.Request) error {
	var req CloseBody
	if err := httpx.DecodeJSON(w, r, 4<<10, &req); err != nil {
		return err
	}
	err := s.CloseRequest(r.Context(), from(r.Context()).token.ID, r.PathValue("id"), req.Status, req.Note)
	if errors.Is(err, ErrNotFound) {
		return httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "no open request with this id")
	}
	if err != nil {
		return badOr(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	entries, err := s.Log(r.Context(), q.Get("subject"), after, limit)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []Entry{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"entries": entries})
	return nil
}

func (s *Service) handleVerify(w http.ResponseWriter, r *http.Request) error {
	n, err := s.Verify(r.Context())
	var ce *ChainError
	if errors.As(err, &ce) {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"ok": false, "verified": n, "error": ce.Error()})
		return nil
	}
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "verified": n})
	return nil
}

func (s *Service) handleWhoami(w http.ResponseWriter, r *http.Request) error {
	t := from(r.Context()).token
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"token": t.ID, "name": t.Name, "role": t.Role})
	return nil
}

// badOr makes an InputError a 400; other errors pass through.
func badOr(err error) error {
	var ie *InputError
	if errors.As(err, &ie) {
		return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "%s", ie.Msg)
	}
	return err
}
