package httpx

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/hushmsg/hush/internal/api"
)

// HostAllowList answers 421 Misdirected Request, with code
// misdirected_request, to a request whose Host is not an IP address nor
// one of names (compared without port, case or a trailing dot). This
// keeps a DNS rebinding attack, where a web page makes a browser send
// requests to a loopback or private address under the page's own name,
// from reading what a listener serves: the Host is then the page's name.
// An IP address as Host is no rebinding: a browser sends the page's name.
func HostAllowList(names []string, next http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, n := range names {
		allowed[canonicalHost(n)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := canonicalHost(r.Host)
		if _, err := netip.ParseAddr(h); err != nil && !allowed[h] {
			WriteJSON(w, http.StatusMisdirectedRequest, Errorf(http.StatusMisdirectedRequest, api.CodeMisdirected, "this listener does not answer for that host name").Body)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// canonicalHost is host without its port, brackets, case or trailing dot.
func canonicalHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	return strings.ToLower(host)
}
