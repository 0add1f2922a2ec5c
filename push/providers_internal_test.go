package push

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sideshow/apns2"
)

func testP8(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// Sandbox registrations go to Apple's development host; without network.
func TestAPNsHosts(t *testing.T) {
	t.Parallel()
	key := testP8(t)
	for _, tc := range []struct {
		name              string
		host, sandboxHost string
		wantProd, wantDev string
	}{
		{"apple", "", "", apns2.HostProduction, apns2.HostDevelopment},
		{"one override", "https://127.0.0.1:1", "", "https://127.0.0.1:1", "https://127.0.0.1:1"},
		{"two overrides", "https://127.0.0.1:1", "https://127.0.0.1:2", "https://127.0.0.1:1", "https://127.0.0.1:2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewAPNs(APNsConfig{Key: key, KeyID: "K", TeamID: "T", Topic: "org.hushmsg.hush", Host: tc.host, SandboxHost: tc.sandboxHost})
			if err != nil {
				t.Fatal(err)
			}
			if got := a.client(Registration{Sandbox: false}).Host; got != tc.wantProd {
				t.Errorf("production host %s, want %s", got, tc.wantProd)
			}
			if got := a.client(Registration{Sandbox: true}).Host; got != tc.wantDev {
				t.Errorf("sandbox host %s, want %s", got, tc.wantDev)
			}
		})
	}
}

// The default Web Push client checks the address it dials, after name
// resolution: "localhost" resolves without DNS, to loopback.
func TestGuardedClientRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	c := guardedClient(nil, false)
	for _, u := range []string{srv.URL, "http://localhost" + port} {
		_, err := c.Get(u)
		if !errors.Is(err, ErrEndpointRefused) {
			t.Errorf("%s: %v, want refused", u, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatal("a private address was reached")
	}
	resp, err := guardedClient(nil, true).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	drain(resp)
	if hits.Load() != 1 {
		t.Fatal("AllowPrivate did not reach the server")
	}
}

// TestPublicAddr: every block of the IANA special-purpose registries is
// refused, at its first and last address, as is everything IPv6 outside
// 2000::/3 and multicast; a few public addresses around them pass.
func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for _, p := range specialPurpose {
		for _, a := range []netip.Addr{p.Masked().Addr(), lastAddr(p)} {
			if publicAddr(a) {
				t.Errorf("publicAddr(%s) in %s = true", a, p)
			}
			if a.Is4() && publicAddr(netip.AddrFrom16(a.As16())) {
				t.Errorf("publicAddr(%s mapped) in %s = true", a, p)
			}
		}
	}
	for addr, want := range map[string]bool{
		"93.184.215.14": true, "2606:4700::1111": true, "1.1.1.1": true, "8.8.8.8": true, "2a00:1450:4001::1": true,
		// Just outside blocks.
		"100.63.255.255": true, "100.128.0.0": true, "198.17.255.255": true, "198.20.0.0": true, "223.255.255.255": true,
		"192.0.1.255": true, "192.0.3.0": true, "2003::1": true, "2001:200::1": true,
		// The ones named when the filter was widened.
		"0.1.2.3": false, "198.18.0.1": false, "198.19.255.254": false, "240.0.0.1": false, "250.1.2.3": false,
		"64:ff9b::a00:1": false, "64:ff9b::808:808": false, "2002:c000:0204::1": false, "2002:0808:0808::1": false,
		// And the rest.
		"127.0.0.1": false, "::1": false, "10.0.0.1": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fd00::1": false, "100.64.0.1": false, "0.0.0.0": false,
		"::": false, "224.0.0.1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "::ffff:198.18.0.1": false,
		"255.255.255.255": false, "192.0.0.9": false, "192.88.99.1": false, "2001::1": false, "2001:db8::1": false,
		"3fff::1": false, "5f00::1": false, "100::1": false, "::1.2.3.4": false, "fec0::1": false, "ff02::1": false,
		"4000::1": false, "fe80::1%eth0": false,
	} {
		if got := publicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

// lastAddr is the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func TestNumericHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"127.0.0.1": true, "::1": true, "2606:4700::1111": true, "2130706433": true, "0x7f.1": true, "0X7F000001": true,
		"127.1": true, "1.2.3.4.": true, "017700000001": true,
		"push.example.com": false, "fcm.googleapis.com": false, "1.example": false, "a1": false, "xn--p1ai": false,
	} {
		if got := numericHost(host); got != want {
			t.Errorf("numericHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for v, want := range map[string]time.Duration{"": 0, "120": 120 * time.Second, "junk": 0, "-1": 0, "Wed, 21 Oct 2015 07:28:00 GMT": 0} {
		if got := retryAfter(http.Header{"Retry-After": {v}}); got != want {
			t.Errorf("Retry-After %q: %v, want %v", v, got, want)
		}
	}
	if got := retryAfter(http.Header{"Retry-After": {future}}); got <= 0 || got > 91*time.Second {
		t.Errorf("Retry-After date 90s ahead: %v", got)
	}
}

// FuzzCheckTarget: any string is refused or an https URL on a host that is
// not a non-public address; a refusal never echoes the URL.
func FuzzCheckTarget(f *testing.F) {
	for _, s := range []string{"https://push.example.com/a", "http://10.0.0.1/", "https://[::1]:443/x", "https://u@h/", "https://localhost./", "%zz", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := checkTarget("endpoint", raw, false, false, nil)
		if err != nil {
			if !errors.Is(err, ErrEndpointRefused) {
				t.Fatalf("%q: %v does not wrap ErrEndpointRefused", raw, err)
			}
			if len(raw) > 64 && strings.Contains(err.Error(), raw) {
				t.Fatalf("error %q echoes the URL", err)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil {
			t.Fatalf("%q accepted", raw)
		}
		if _, perr := netip.ParseAddr(u.Hostname()); perr == nil {
			t.Fatalf("%q accepted: an IP address", raw)
		}
	})
}
