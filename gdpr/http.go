package gdpr

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/httpx"
)

type ctxKey struct{}

// call is the authenticated admin request in a context, with the account
// it turned out to be about (for the audit entry).
type call struct {
	token   Token
	subject string // the pseudonym of the account the call was about
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
			if err := s.auditAs(context.WithoutCancel(r.Context()), t.ID, r.Pattern, c.subject, map[string]int{"status": rec.status}); err != nil {
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
	r.Handle("GET /admin/v1/accounts/{subject}", s.handleAccount, s.Require(RoleCompliance, RoleOperator))
	r.Handle("GET /admin/v1/accounts/{subject}/export", s.handleExport, compliance)
	r.Handle("POST /admin/v1/accounts/{subject}/erase", s.handleErase, compliance)
	s.consoleRoutes(r)
}

// PublicRoutes registers the account holder's own export and erasure on
// the public router; only the primary device may use them.
func (s *Service) PublicRoutes(r *httpx.Router, authn httpx.Middleware) {
	r.Handle("GET /v1/account/export", s.handleSelfExport, authn)
	r.Handle("DELETE /v1/account", s.handleSelfErase, authn)
}

// account resolves the {subject} of an admin route (phone number or
// account id) and notes its pseudonym for the call's audit entry.
func (s *Service) account(r *http.Request) (string, error) {
	account, err := s.Resolve(r.Context(), r.PathValue("subject"))
	if err != nil {
		return "", badOr(err)
	}
	p, err := s.store.Pseudonym(r.Context(), account, newPseudonym)
	if err != nil {
		return "", badOr(err)
	}
	from(r.Context()).subject = p
	return account, nil
}

// AccountStatus answers GET /admin/v1/accounts/{subject}: what an
// operator needs, no keys and no number.
type AccountStatus struct {
	ID          string    `json:"id"`
	Subject     string    `json:"subject"` // audit pseudonym
	Created     time.Time `json:"created"`
	Devices     int       `json:"devices"`
	Queued      int       `json:"queued_envelopes"`
	Groups      int       `json:"groups"`
	Attachments int       `json:"attachments"`
}

func (s *Service) handleAccount(w http.ResponseWriter, r *http.Request) error {
	account, err := s.account(r)
	if err != nil {
		return err
	}
	e, err := s.accounts.ExportAccount(r.Context(), account)
	if err != nil {
		return badOr(err)
	}
	httpx.WriteJSON(w, http.StatusOK, AccountStatus{ID: account, Subject: from(r.Context()).subject, Created: e.Account.Created,
		Devices: len(e.Devices), Queued: len(e.Envelopes), Groups: len(e.Groups), Attachments: len(e.Attachments)})
	return nil
}

func (s *Service) handleExport(w http.ResponseWriter, r *http.Request) error {
	account, err := s.account(r)
	if err != nil {
		return err
	}
	e, err := s.Export(r.Context(), from(r.Context()).token.ID, account)
	if err != nil {
		return badOr(err)
	}
	writeExport(w, e)
	return nil
}

// EraseBody is the body of POST /admin/v1/accounts/{subject}/erase: the
// subject typed again, as confirmation.
type EraseBody struct {
	Confirm string `json:"confirm"`
}

func (s *Service) handleErase(w http.ResponseWriter, r *http.Request) error {
	var req EraseBody
	if err := httpx.DecodeJSON(w, r, 1<<10, &req); err != nil {
		return err
	}
	if req.Confirm != r.PathValue("subject") {
		return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "confirm must repeat the number or id being erased")
	}
	account, err := s.account(r)
	if err != nil {
		return err
	}
	rc, err := s.Erase(r.Context(), from(r.Context()).token.ID, account)
	if err != nil {
		return badOr(err)
	}
	httpx.WriteJSON(w, http.StatusOK, rc)
	return nil
}

func writeExport(w http.ResponseWriter, e *Export) {
	w.Header().Set("Content-Disposition", `attachment; filename="hush-export.json"`)
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, e)
}

func primaryOnly(r *http.Request) (string, error) {
	dev, _ := auth.From(r.Context())
	if dev.DeviceID != auth.PrimaryDeviceID {
		return "", httpx.Errorf(http.StatusForbidden, api.CodeForbidden, "only the primary device can do this")
	}
	return dev.AccountID, nil
}

func (s *Service) handleSelfExport(w http.ResponseWriter, r *http.Request) error {
	account, err := primaryOnly(r)
	if err != nil {
		return err
	}
	e, err := s.Export(r.Context(), "account", account)
	if err != nil {
		return badOr(err)
	}
	writeExport(w, e)
	return nil
}

func (s *Service) handleSelfErase(w http.ResponseWriter, r *http.Request) error {
	account, err := primaryOnly(r)
	if err != nil {
		return err
	}
	rc, err := s.Erase(r.Context(), "account", account)
	if err != nil {
		return badOr(err)
	}
	httpx.WriteJSON(w, http.StatusOK, rc)
	return nil
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

// badOr makes an InputError a 400 and the erasure errors a 404 or 409;
// other errors pass through.
func badOr(err error) error {
	var ie *InputError
	switch {
	case errors.As(err, &ie):
		code := ie.Code
		if code == "" {
			code = api.CodeBadRequest
		}
		return httpx.Errorf(http.StatusBadRequest, code, "%s", ie.Msg)
	case errors.Is(err, ErrNotFound):
		return httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "no account with this number or id")
	case errors.Is(err, ErrErasing):
		return httpx.Errorf(http.StatusConflict, api.CodeErasing, "this account is being erased; try again in a few minutes if it is not gone by then")
	}
	return err
}
