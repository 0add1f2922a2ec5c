package gdpr

import (
	"embed"
	"net/http"
	"path"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/httpx"
)

// console holds the compliance web console: one page, its script and its
// style sheet, written by hand (no framework, no build step, nothing
// fetched from elsewhere).
//
//go:embed console
var console embed.FS

// consoleCSP lets the page load only its own script and style and talk
// only to its own origin: no inline script, no frames, no form posts (the
// page's forms are handled by its script, so a form that somehow submits
// anyway cannot put a token in a URL).
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// consoleTypes are the assets served under /admin/console/, by extension.
var consoleTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

// consoleRoutes serves the web console on the admin router. The page and
// its assets need no token: they hold nothing secret, and every data call
// the page makes goes through the JSON API with the token the officer
// signs in with (kept in the tab's sessionStorage).
func (s *Service) consoleRoutes(r *httpx.Router) {
	r.Handle("GET /admin/console", func(w http.ResponseWriter, _ *http.Request) error {
		return serveConsole(w, "index.html", "text/html; charset=utf-8")
	})
	r.Handle("GET /admin/console/{$}", func(w http.ResponseWriter, r *http.Request) error {
		http.Redirect(w, r, "/admin/console", http.StatusMovedPermanently)
		return nil
	})
	r.Handle("GET /admin/console/{file}", func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("file")
		ct, ok := consoleTypes[path.Ext(name)]
		if !ok {
			return httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "no such console file")
		}
		return serveConsole(w, name, ct)
	})
}

func serveConsole(w http.ResponseWriter, name, contentType string) error {
	b, err := console.ReadFile("console/" + name)
	if err != nil {
		return httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "no such console file")
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	_, err = w.Write(b)
	return err
}
