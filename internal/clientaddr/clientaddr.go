package clientaddr

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/pires/go-proxyproto"
)

// Key returns the key per-address limits count addr by: an IPv4 address
// (or an IPv4-mapped IPv6 one) as itself, an IPv6 address as its /64
// prefix. addr may carry a port; one that does not parse is returned as
// it is.
func Key(addr string) string {
	a, err := parse(addr)
	if err != nil {
		return addr
	}
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// parse reads "ip", "ip:port", "[ip]:port" or "[ip]", dropping any zone
// and unmapping IPv4-mapped IPv6 addresses.
func parse(s string) (netip.Addr, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}, err
	}
	return a.Unmap().WithZone(""), nil
}

// Trusted is the set of proxies whose word on a client's address is
// taken. The zero value trusts nobody.
type Trusted struct {
	prefixes []netip.Prefix
}

// ParseTrusted reads a comma- or space-separated list of CIDRs or single
// addresses.
func ParseTrusted(s string) (Trusted, error) {
	var t Trusted
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return Trusted{}, fmt.Errorf("%q is not a CIDR (like 10.0.0.0/8) or an address", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		t.prefixes = append(t.prefixes, p.Masked())
	}
	return t, nil
}

// Empty reports whether no proxy is trusted.
func (t Trusted) Empty() bool { return len(t.prefixes) == 0 }

// Contains reports whether a is a trusted proxy.
func (t Trusted) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve returns the client's address for a request from peer (its
// direct peer, "ip:port") carrying the X-Forwarded-For values xff: peer
// itself unless it is trusted; else the rightmost forwarded address that
// is not trusted (or the leftmost, when all are). A malformed entry ends
// the walk at the hop that added it: the address before it is the client.
func (t Trusted) Resolve(peer string, xff []string) netip.Addr {
	client, err := parse(peer)
	if err != nil || !t.Contains(client) {
		return client
	}
	var hops []string
	for _, v := range xff {
		for h := range strings.SplitSeq(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := parse(hops[i])
		if err != nil {
			return client
		}
		client = a
		if !t.Contains(a) {
			return a
		}
	}
	return client
}

// Middleware sets each request's RemoteAddr to its client's address (port
// 0) as Resolve finds it, so that handlers see the client, not the proxy.
func (t Trusted) Middleware(next http.Handler) http.Handler {
	if t.Empty() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if peer, err := parse(r.RemoteAddr); err == nil && t.Contains(peer) {
			a := t.Resolve(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
			r2 := *r
			r2.RemoteAddr = netip.AddrPortFrom(a, 0).String()
			r = &r2
		}
		next.ServeHTTP(w, r)
	})
}

// ProxyListener reads a PROXY protocol (v1 or v2) header on connections
// from trusted proxies, whose RemoteAddr becomes the client the header
// names; a header from anyone else is read and ignored. headerTimeout
// bounds the wait for a header.
func (t Trusted) ProxyListener(ln net.Listener, headerTimeout time.Duration) net.Listener {
	return &proxyproto.Listener{
		Listener:          ln,
		ReadHeaderTimeout: headerTimeout,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			a, err := parse(o.Upstream.String())
			if err == nil && t.Contains(a) {
				return proxyproto.USE, nil
			}
			return proxyproto.IGNORE, nil
		},
	}
}
