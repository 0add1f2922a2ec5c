package httpx

import (
	"net/http"
	"strings"
)

// HSTS is the Strict-Transport-Security of answers over TLS: a year, for
// this host only (the operator's other names are theirs to decide).
const HSTS = "max-age=31536000"

// SecureHeaders sets on every answer of next:
//   - X-Content-Type-Options: nosniff (no answer is rendered as anything
//     but its declared type);
//   - Strict-Transport-Security (HSTS) when the request came over TLS;
//   - Cache-Control: no-store on every /v1/ answer, as the API's answers
//     carry credentials, keys, messages or personal data that no cache
//     may keep. A handler may set its own Cache-Control after this one:
//     the signed attachment downloads do, and the public /attachments/
//     route a CDN caches is outside /v1/.
func SecureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", HSTS)
		}
		if strings.HasPrefix(r.URL.Path, "/v1/") || strings.HasPrefix(r.URL.Path, "/admin/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}
