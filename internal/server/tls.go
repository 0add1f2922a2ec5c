package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/hushmsg/hush/internal/httpx"
)

// LetsEncrypt is the default ACME directory.
const LetsEncrypt = acme.LetsEncryptURL

// ACMEConfig gets certificates from an ACME CA (Let's Encrypt by default)
// for Domains, and renews them before they expire. The CA checks that we
// control each domain with the TLS-ALPN-01 challenge on the public
// listener, which must therefore be reachable on port 443 of every domain,
// and with HTTP-01 on HTTPListen when it is set (port 80), which otherwise
// redirects to https.
type ACMEConfig struct {
	Domains []string
	// Email is given to the CA for expiry notices; optional.
	Email string
	// DirectoryURL is the CA's directory; empty: Let's Encrypt.
	DirectoryURL string
	// CacheDir keeps the account key and the certificates (secrets: 0700);
	// empty: acme/ in the data directory.
	CacheDir string
	// HTTPListen serves HTTP-01 challenges and redirects to https; empty: off.
	HTTPListen string
	// HTTPClient talks to the CA; nil: the default client.
	HTTPClient *http.Client
}

// tlsConfig is the public listener's TLS: nil for plain HTTP, certificate
// files, or ACME. TLS 1.2 at least (1.3 preferred by Go's defaults);
// HTTP/1.1 only, which WebSocket upgrades need.
func (n *Node) tlsConfig() (*tls.Config, func(), error) {
	stop := func() {}
	a := n.cfg.ACME
	switch {
	case len(a.Domains) > 0 && n.cfg.TLSCert != "":
		return nil, stop, errors.New("tls: choose certificate files (--tls-cert) or ACME (--acme-domain), not both")
	case n.cfg.TLSCert != "":
		cert, err := tls.LoadX509KeyPair(n.cfg.TLSCert, n.cfg.TLSKey)
		if err != nil {
			return nil, stop, fmt.Errorf("tls: %w", err)
		}
		return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}, stop, nil
	case len(a.Domains) == 0:
		return nil, stop, nil
	}
	dir := a.CacheDir
	if dir == "" {
		dir = filepath.Join(n.cfg.DataDir, "acme")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, stop, fmt.Errorf("acme cache: %w", err)
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(dir),
		HostPolicy: autocert.HostWhitelist(a.Domains...),
		Email:      a.Email,
		Client:     &acme.Client{DirectoryURL: a.DirectoryURL, HTTPClient: a.HTTPClient},
	}
	if m.Client.DirectoryURL == "" {
		m.Client.DirectoryURL = LetsEncrypt
	}
	if a.HTTPListen != "" {
		ln, err := net.Listen("tcp", a.HTTPListen)
		if err != nil {
			return nil, stop, fmt.Errorf("acme http listen: %w", err)
		}
		srv := &http.Server{Handler: m.HTTPHandler(nil), ReadHeaderTimeout: n.headerTimeout(), ReadTimeout: n.cfg.ReadTimeout, IdleTimeout: time.Minute,
			ErrorLog: httpx.ErrorLog(n.log)}
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.Serve(ln) }()
		stop = func() { _ = srv.Close(); <-done }
	}
	n.log.Info("tls: certificates by ACME", "domains", a.Domains, "directory", m.Client.DirectoryURL)
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: m.GetCertificate,
		NextProtos:     []string{"http/1.1", acme.ALPNProto},
	}, stop, nil
}
