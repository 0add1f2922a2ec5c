package httpx

import (
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
)

// HandlerFunc is an HTTP handler that returns its error instead of writing it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Middleware wraps a handler (authentication, for one).
type Middleware func(http.Handler) http.Handler

// Router is an http.ServeMux that remembers its patterns, so that a test can
// hold the documentation to the routes that exist.
type Router struct {
	mux      *http.ServeMux
	log      *slog.Logger
	patterns []string
}

// NewRouter returns an empty router whose errors are logged to log.
func NewRouter(log *slog.Logger) *Router {
	return &Router{mux: http.NewServeMux(), log: log}
}

// Handle registers h for pattern ("METHOD /path/{var}"), wrapped by mw in
// order (the first is outermost).
func (r *Router) Handle(pattern string, h HandlerFunc, mw ...Middleware) {
	var hh http.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := h(w, req); err != nil {
			WriteError(w, req, r.log, err)
		}
	})
	for i := len(mw) - 1; i >= 0; i-- {
		hh = mw[i](hh)
	}
	r.mux.Handle(pattern, hh)
	r.patterns = append(r.patterns, pattern)
}

// Patterns returns the registered patterns, sorted.
func (r *Router) Patterns() []string {
	p := slices.Clone(r.patterns)
	slices.Sort(p)
	return p
}

// ServeHTTP serves the routes; a wrong method on a known path is a 405 with
// our error body.
// A path that is not in canonical form ("//", "/./", "/../") is a 404 too,
// where ServeMux would redirect: API clients build their paths, and a
// redirect is no answer they can use. Like ServeMux, this looks at the
// escaped path (an escaped "%2F" stays inside its segment).
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !canonical(req.URL.EscapedPath()) {
		WriteError(w, req, r.log, Errorf(http.StatusNotFound, "not_found", "no such route"))
		return
	}
	h, pattern := r.mux.Handler(req)
	if pattern == "" {
		// The mux answers 404 or 405 itself; render those in our format.
		rec := &statusProbe{}
		h.ServeHTTP(rec, req)
		if rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rec.Header().Get("Allow"))
			WriteError(w, req, r.log, Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "method %s not allowed here", req.Method))
			return
		}
		WriteError(w, req, r.log, Errorf(http.StatusNotFound, "not_found", "no such route"))
		return
	}
	r.mux.ServeHTTP(w, req)
}

// canonical reports whether p is its own clean form, a trailing slash
// allowed (as ServeMux's cleanPath keeps it).
func canonical(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	if p != "/" && strings.HasSuffix(p, "/") {
		c += "/"
	}
	return c == p
}

// statusProbe records what a mux-internal handler would answer.
type statusProbe struct {
	h      http.Header
	status int
}

func (p *statusProbe) Header() http.Header {
	if p.h == nil {
		p.h = http.Header{}
	}
	return p.h
}
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *statusProbe) WriteHeader(s int)           { p.status = s }
