package clientaddr

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"192.0.2.7:4242", "192.0.2.7"},
		{"192.0.2.7", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2::9%eth0]:1", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7"},
		{"not an address", "not an address"},
	} {
		if got := Key(tt.in); got != tt.want {
			t.Errorf("Key(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if Key("[2001:db8:1:2::1]:1") != Key("[2001:db8:1:2:8000::1]:2") {
		t.Error("two addresses of one /64 have different keys")
	}
	if Key("[2001:db8:1:2::1]:1") == Key("[2001:db8:1:3::1]:1") {
		t.Error("two /64s share a key")
	}
}

func TestParseTrusted(t *testing.T) {
	tr, err := ParseTrusted("10.0.0.0/8, 192.0.2.1 2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", true}, {"11.0.0.1", false}, {"192.0.2.1", true}, {"192.0.2.2", false},
		{"2001:db8:ffff::1", true}, {"2001:db9::1", false}, {"::ffff:10.0.0.1", true},
	} {
		a, _ := parse(tt.addr)
		if got := tr.Contains(a); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if _, err := ParseTrusted("10.0.0.0/8,nonsense"); err == nil {
		t.Error("a malformed entry was accepted")
	}
	if tr, _ := ParseTrusted(""); !tr.Empty() {
		t.Error("an empty list trusts someone")
	}
}

func TestResolve(t *testing.T) {
	tr, _ := ParseTrusted("10.0.0.0/8")
	for _, tt := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer: its header is ignored", "198.51.100.9:5000", []string{"203.0.113.1"}, "198.51.100.9"},
		{"no header from a proxy", "10.0.0.2:5000", nil, "10.0.0.2"},
		{"one hop", "10.0.0.2:5000", []string{"203.0.113.1"}, "203.0.113.1"},
		{"spoofed left part is skipped", "10.0.0.2:5000", []string{"1.2.3.4, 203.0.113.1"}, "203.0.113.1"},
		{"trusted hops are skipped", "10.0.0.2:5000", []string{"203.0.113.1, 10.0.0.7"}, "203.0.113.1"},
		{"several header lines", "10.0.0.2:5000", []string{"1.2.3.4", "203.0.113.1"}, "203.0.113.1"},
		{"all trusted: the leftmost", "10.0.0.2:5000", []string{"10.0.0.5, 10.0.0.7"}, "10.0.0.5"},
		{"garbage stops the walk", "10.0.0.2:5000", []string{"203.0.113.1, garbage"}, "10.0.0.2"},
		{"IPv6 client", "10.0.0.2:5000", []string{"2001:db8::1"}, "2001:db8::1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tr.Resolve(tt.peer, tt.xff).String(); got != tt.want {
				t.Fatalf("Resolve = %s, want %s", got, tt.want)
			}
		})
	}
	var none Trusted
	if got := none.Resolve("10.0.0.2:5000", []string{"203.0.113.1"}).String(); got != "10.0.0.2" {
		t.Fatalf("nobody trusted: Resolve = %s, want the peer", got)
	}
}

func TestMiddleware(t *testing.T) {
	var seen string
	h := func(tr Trusted) http.Handler {
		return tr.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr }))
	}
	req := func(peer string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", "203.0.113.1")
		return r
	}
	tr, _ := ParseTrusted("10.0.0.0/8")
	h(tr).ServeHTTP(httptest.NewRecorder(), req("10.0.0.2:5000"))
	if seen != "203.0.113.1:0" {
		t.Fatalf("behind a trusted proxy RemoteAddr = %q, want the forwarded client", seen)
	}
	h(tr).ServeHTTP(httptest.NewRecorder(), req("198.51.100.9:5000"))
	if seen != "198.51.100.9:5000" {
		t.Fatalf("a spoofed header from an untrusted peer changed RemoteAddr to %q", seen)
	}
}

// proxyServe serves one request on a PROXY listener trusting tr and
// returns the RemoteAddr the handler saw for a request preceded by header.
func proxyServe(t *testing.T, tr Trusted, header string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- r.RemoteAddr }), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(tr.ProxyListener(ln, 5*time.Second)) }()
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "%sGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", header)
	if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatal(err)
	}
	return <-seen
}

func TestProxyListener(t *testing.T) {
	loopback, _ := ParseTrusted("127.0.0.0/8")
	other, _ := ParseTrusted("10.0.0.0/8")
	const v1 = "PROXY TCP4 203.0.113.1 127.0.0.1 40000 80\r\n"
	if got := proxyServe(t, loopback, v1); got != "203.0.113.1:40000" {
		t.Errorf("v1 header from a trusted peer: RemoteAddr %q, want the client it names", got)
	}
	v2 := "\r\n\r\n\x00\r\nQUIT\n" + "\x21\x11\x00\x0c" + "\xcb\x00\x71\x02" + "\x7f\x00\x00\x01" + "\x9c\x41" + "\x00\x50"
	if got := proxyServe(t, loopback, v2); got != "203.0.113.2:40001" {
		t.Errorf("v2 header from a trusted peer: RemoteAddr %q, want the client it names", got)
	}
	if got := proxyServe(t, loopback, ""); Key(got) != "127.0.0.1" {
		t.Errorf("no header from a trusted peer: RemoteAddr %q, want the peer", got)
	}
	if got := proxyServe(t, other, v1); Key(got) != "127.0.0.1" {
		t.Errorf("header from an untrusted peer: RemoteAddr %q, want the peer itself", got)
	}
}
