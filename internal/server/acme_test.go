package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/letsencrypt/challtestsrv"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
)

// freePort is a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestACME gets a certificate from a real ACME server (Let's Encrypt's
// Pebble, in process) that validates the domain with TLS-ALPN-01 against
// hushd's own listener, as Let's Encrypt does, resolving the name with a
// test DNS server; then serves HTTPS with it and keeps it in the cache
// for the next start.
func TestACME(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1") // no random validation delays
	const domain = "chat.hush.test"
	logger := log.New(io.Discard, "", 0)
	if testing.Verbose() {
		logger = log.New(os.Stderr, "pebble ", log.Lmicroseconds)
	}

	dnsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	dns, err := challtestsrv.New(challtestsrv.Config{DNSAddrs: []string{dnsAddr}, Log: logger})
	if err != nil {
		t.Fatal(err)
	}
	dns.SetDefaultDNSIPv4("127.0.0.1") // every name is this machine
	dns.SetDefaultDNSIPv6("")
	dns.Run()
	t.Cleanup(dns.Shutdown)

	port := freePort(t) // hushd's: the CA connects here for TLS-ALPN-01
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "test"}})
	validator := va.New(logger, 0, port, false, dnsAddr, store)
	front := wfe.New(logger, store, validator, authority, nil, false, false, 1, 1)
	acmeSrv := httptest.NewTLSServer(front.Handler())
	t.Cleanup(acmeSrv.Close)

	acmeCfg := server.ACMEConfig{Domains: []string{domain}, Email: "ops@hush.test", DirectoryURL: acmeSrv.URL + "/dir", HTTPClient: acmeSrv.Client()}
	dataDir := t.TempDir()
	n := testkit.Start(t, dataDir, func(c *server.Config) {
		c.Listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		c.ACME = acmeCfg
	})

	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
	client := func(serverName string) *http.Client {
		return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: serverName},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			},
		}}
	}
	url := "https://" + net.JoinHostPort(domain, strconv.Itoa(port)) + "/healthz"

	t.Run("the first handshake gets a certificate the CA signed", func(t *testing.T) {
		resp, err := client(domain).Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz: %d", resp.StatusCode)
		}
		leaf := resp.TLS.PeerCertificates[0]
		if err := leaf.VerifyHostname(domain); err != nil {
			t.Fatal(err)
		}
		if resp.TLS.Version < tls.VersionTLS12 {
			t.Fatalf("TLS version %x", resp.TLS.Version)
		}
	})
	t.Run("another name gets no certificate", func(t *testing.T) {
		other := "evil.hush.test"
		_, err := client(other).Get("https://" + net.JoinHostPort(other, strconv.Itoa(port)) + "/healthz")
		if err == nil {
			t.Fatal("a handshake for a name not in --acme-domain succeeded")
		}
	})
	t.Run("the certificate is cached for the next start", func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(dataDir, "acme", domain)); err != nil {
			t.Fatal(err)
		}
		n = n.Restart(t)
		acmeSrv.Close() // the CA is gone: the cached certificate must do
		resp, err := client(domain).Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
}

func TestACMEAndCertificateFilesConflict(t *testing.T) {
	t.Parallel()
	certFile, keyFile, _ := writeCert(t)
	cfg := server.Defaults()
	cfg.DataDir, cfg.Listen, cfg.AdminListen = t.TempDir(), "127.0.0.1:0", ""
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	cfg.ACME.Domains = []string{"chat.hush.test"}
	n, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Serve(t.Context()); err == nil {
		t.Fatal("served with both certificate files and ACME")
	}
}
