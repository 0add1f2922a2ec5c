// Package server assembles a hushd node from its configuration: the store,
// the bus, the domain services, the HTTP router and the listener, and runs
// it until its context ends, then drains it. It holds wiring, not logic.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hushmsg/hush/attachments"
	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/envelope"
	"github.com/hushmsg/hush/gdpr"
	"github.com/hushmsg/hush/groups"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/bus"
	"github.com/hushmsg/hush/internal/clientaddr"
	"github.com/hushmsg/hush/internal/fileperm"
	"github.com/hushmsg/hush/internal/httpx"
	"github.com/hushmsg/hush/internal/metrics"
	"github.com/hushmsg/hush/internal/postgres"
	"github.com/hushmsg/hush/internal/ratelimit"
	"github.com/hushmsg/hush/internal/sqlite"
	"github.com/hushmsg/hush/keys"
	"github.com/hushmsg/hush/push"
)

// Config is everything a node needs.
type Config struct {
	DataDir string
	// DB is a postgres:// URL; empty means SQLite in DataDir.
	DB string
	// NATS is a nats:// URL; empty means the in-process bus (one node).
	NATS   string
	Listen string
	// AdminListen serves the admin API, /metrics and pprof; keep it on
	// loopback or a private network. Empty disables it.
	AdminListen string
	// AdminHosts are names the admin listener answers for, besides its
	// listen host, localhost and IP addresses: any other Host is 421
	// (DNS rebinding).
	AdminHosts []string
	// AdminTLSCert and AdminTLSKey serve the admin listener over TLS.
	AdminTLSCert, AdminTLSKey string
	// AdminPprof serves /debug/pprof/ on the admin listener to anyone
	// who reaches it; otherwise only to an operator's admin token.
	AdminPprof      bool
	TLSCert, TLSKey string
	// ACME gets and renews certificates automatically instead of TLSCert.
	ACME ACMEConfig
	// ReadTimeout bounds reading a whole request, headers and body, so a
	// client that trickles a body cannot hold a connection open. Upload
	// parts extend it by their size (httpx.ExtendBodyDeadline); a WebSocket
	// is not bound by it once upgraded (pings watch it instead).
	ReadTimeout     time.Duration
	ShutdownTimeout time.Duration
	// TrustedProxies are the load balancers whose X-Forwarded-For (and,
	// with ProxyProtocol, PROXY protocol header) name the client.
	TrustedProxies clientaddr.Trusted
	ProxyProtocol  bool

	Devices     devices.Config
	SMS         devices.SMSConfig // an empty Kind: see smsSender
	Keys        keys.Config
	Envelope    envelope.Config
	Groups      groups.Config
	Attachments attachments.Config
	Push        push.Config
	Providers   ProvidersConfig
	GDPR        gdpr.Config
}

// Defaults returns the embedded profile's defaults.
func Defaults() Config {
	return Config{
		DataDir:         "hush-data",
		Listen:          "127.0.0.1:8080",
		AdminListen:     "127.0.0.1:8081",
		ReadTimeout:     30 * time.Second,
		ShutdownTimeout: 10 * time.Second,
		Devices:         devices.Defaults(),
		SMS:             devices.SMSDefaults(),
		Keys:            keys.Defaults(),
		Envelope:        envelope.Defaults(),
		Groups:          groups.Defaults(),
		Attachments:     attachments.Defaults(),
		Push:            push.Defaults(),
		GDPR:            gdpr.Defaults(),
		Providers:       ProvidersConfig{WebPush: &push.WebPushConfig{Subscriber: "mailto:postmaster@localhost"}},
	}
}

// Files in the data directory.
const (
	DBFile        = "hush.db"
	AddrFile      = "hushd.addr"
	AdminAddrFile = "hushd.admin.addr"
	OutboxFile    = "dev-sms-outbox.txt"
	// BlobDir holds the embedded blob store's attachments.
	BlobDir = "attachments"
)

// Store is everything a node keeps, on one backend.
type Store interface {
	devices.Store
	keys.Store
	envelope.Store
	groups.Store
	attachments.Store
	push.Store
	gdpr.Store
	gdpr.AccountStore
	ratelimit.Store
	Ping(ctx context.Context) error
	Stats(ctx context.Context) (map[string]int64, error)
	Close() error
}

// OpenStore opens PostgreSQL when db is a postgres:// URL, else the SQLite
// file in dataDir.
func OpenStore(ctx context.Context, db, dataDir string) (Store, error) {
	switch {
	case db == "":
		// The driver would create it 0644; its -wal and -shm files take
		// its mode.
		path := filepath.Join(dataDir, DBFile)
		if err := fileperm.Create(path); err != nil {
			return nil, fmt.Errorf("create database: %w", err)
		}
		return sqlite.Open(ctx, path)
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		return postgres.Open(ctx, db)
	}
	return nil, errors.New("--db must be a postgres:// URL (or empty for SQLite)")
}

// Node is a wired server.
type Node struct {
	cfg      Config
	log      *slog.Logger
	store    Store
	Router   *httpx.Router
	Envelope *envelope.Service
	Devices  *devices.Service
	Keys     *keys.Service
	Groups   *groups.Service
	// Attachments runs uploads and downloads of encrypted media.
	Attachments *attachments.Service
	// Push wakes offline devices.
	Push *push.Service
	// GDPR serves compliance officers on the admin listener.
	GDPR        *gdpr.Service
	AdminRouter *httpx.Router
	stopping    atomic.Bool
	closeBus    func()
	Metrics     *metrics.Metrics
	// Limits holds the rate limits every node shares, in the store.
	Limits *ratelimit.Buckets
}

// New opens the store and wires the services.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Envelope.Validate(); err != nil {
		return nil, err
	}
	if cfg.Groups.MaxMembers < 2 {
		return nil, errors.New("--max-group-members must be at least 2")
	}
	if err := cfg.Attachments.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Push.Validate(); err != nil {
		return nil, err
	}
	if cfg.Devices.ProvisioningSocketTTL <= 0 {
		return nil, errors.New("--provisioning-socket-ttl must be positive")
	}
	if cfg.ProxyProtocol && cfg.TrustedProxies.Empty() {
		return nil, clientaddr.ErrNoTrusted
	}
	var err error
	if cfg.SMS, err = smsConfig(cfg); err != nil {
		return nil, err
	}
	if tightened, err := fileperm.Dir(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	} else if tightened > 0 {
		log.Warn("data directory and files made private to their owner (0700, 0600)", "entries", tightened)
	}
	blobs, err := openBlobs(ctx, cfg)
	if err != nil {
		return nil, err
	}
	store, err := OpenStore(ctx, cfg.DB, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	var b bus.Bus = bus.NewLocal()
	n := &Node{cfg: cfg, log: log, store: store, Router: httpx.NewRouter(log), Metrics: metrics.New()}
	if cfg.NATS != "" {
		nb, err := bus.DialNATS(cfg.NATS, log)
		if err != nil {
			store.Close()
			return nil, err
		}
		b, n.closeBus = nb, nb.Close
	}
	n.Limits = ratelimit.NewBuckets(store, n.Metrics.Denied)
	sms, err := n.smsSender(cfg)
	if err != nil {
		store.Close()
		if n.closeBus != nil {
			n.closeBus()
		}
		return nil, err
	}
	n.Devices = devices.New(cfg.Devices, store, sms, b, log, n.Limits)
	n.Keys = keys.New(cfg.Keys, store, b, log, n.Limits)
	n.Envelope = envelope.New(cfg.Envelope, store, b, log, n.Metrics, n.greet)
	n.Groups = groups.New(cfg.Groups, store, n.Envelope.Poke, log, n.Metrics, n.Limits)
	n.Envelope.SetGroups(n.Groups.Devices)
	n.Envelope.SetPresence(n.Devices.Presence)
	n.Attachments = attachments.New(cfg.Attachments, store, blobs, log, n.Metrics)
	providers, vapid, err := openProviders(ctx, cfg)
	if err != nil {
		store.Close()
		if n.closeBus != nil {
			n.closeBus()
		}
		return nil, err
	}
	n.Push = push.New(cfg.Push, store, providers, vapid, b, log, n.Metrics)
	n.Envelope.SetWaker(n.Push)

	n.Router.Handle("GET /healthz", func(w http.ResponseWriter, _ *http.Request) error {
		_, err := w.Write([]byte("ok\n"))
		return err
	})
	n.Router.Handle("GET /readyz", n.ready)
	n.Devices.Routes(n.Router)
	n.Keys.Routes(n.Router, n.Devices.Middleware)
	n.Envelope.Routes(n.Router, n.Devices.Middleware)
	n.Groups.Routes(n.Router, n.Devices.Middleware)
	n.Attachments.Routes(n.Router, n.Devices.Middleware)
	n.Push.Routes(n.Router, n.Devices.Middleware)
	gcfg := cfg.GDPR
	gcfg.TestNumbers = cfg.Devices.TestNumbers // valid request subjects
	n.GDPR = gdpr.New(gcfg, store, log)
	n.GDPR.SetAccounts(store, gdpr.Hooks{LeaveGroups: n.Groups.Erased, DeleteAttachments: n.Attachments.DeleteOwned, Disconnect: n.Devices.Erased,
		ExpireDevice: n.Devices.Expire, Retained: func(kind string, c int64) { n.Metrics.Retained.WithLabelValues(kind).Add(float64(c)) }})
	n.Devices.SetRetirer(retirer{n.GDPR})
	n.GDPR.PublicRoutes(n.Router, n.Devices.Middleware)
	n.AdminRouter = httpx.NewRouter(log)
	n.GDPR.Routes(n.AdminRouter)
	return n, nil
}

// openBlobs opens S3 when a bucket is set, else the blob directory in the
// data directory.
func openBlobs(ctx context.Context, cfg Config) (attachments.Blobs, error) {
	if cfg.Attachments.S3.Bucket != "" {
		return attachments.OpenS3(ctx, cfg.Attachments.S3)
	}
	return attachments.OpenFS(filepath.Join(cfg.DataDir, BlobDir), cfg.Attachments.CDN != "")
}

// greet tells a connecting device that its prekeys run low.
func (n *Node) greet(ctx context.Context, dev auth.Device) [][]byte {
	c, err := n.Keys.Count(ctx, dev)
	if err != nil {
		return nil
	}
	if f := n.Keys.LowKeysFrame(c); f != nil {
		return [][]byte{f}
	}
	return nil
}

func (n *Node) ready(w http.ResponseWriter, r *http.Request) error {
	if n.stopping.Load() {
		return httpx.Errorf(http.StatusServiceUnavailable, api.CodeUnavailable, "shutting down")
	}
	if err := n.store.Ping(r.Context()); err != nil {
		return httpx.Errorf(http.StatusServiceUnavailable, api.CodeUnavailable, "store unavailable")
	}
	_, err := w.Write([]byte("ready\n"))
	return err
}

// headerTimeout bounds reading a request's headers: 10 s, or ReadTimeout
// when that is shorter.
func (n *Node) headerTimeout() time.Duration {
	if rt := n.cfg.ReadTimeout; rt > 0 && rt < 10*time.Second {
		return rt
	}
	return 10 * time.Second
}

// Serve listens and serves until ctx ends, then drains: readiness fails,
// devices are told to reconnect, in-flight requests finish, and the store
// closes, all within ShutdownTimeout.
func (n *Node) Serve(ctx context.Context) error {
	defer n.store.Close()
	defer n.Push.Close()
	defer n.Envelope.Close()
	if n.closeBus != nil {
		defer n.closeBus()
	}
	ln, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if n.cfg.ProxyProtocol {
		ln = n.cfg.TrustedProxies.ProxyListener(ln, n.headerTimeout())
	}
	scheme := "http"
	srv := &http.Server{
		Handler:           httpx.SecureHeaders(n.cfg.TrustedProxies.Middleware(n.Router)),
		ReadHeaderTimeout: n.headerTimeout(),
		ReadTimeout:       n.cfg.ReadTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          httpx.ErrorLog(n.log),
	}
	tlsCfg, stopACME, err := n.tlsConfig()
	if err != nil {
		ln.Close()
		return err
	}
	defer stopACME()
	if tlsCfg != nil {
		srv.TLSConfig = tlsCfg
		ln = tls.NewListener(ln, tlsCfg)
		scheme = "https"
	}
	// The admin listener is up before the public address is written, so
	// whoever waits for hushd.addr finds hushd.admin.addr too.
	if n.cfg.AdminListen != "" {
		stopAdmin, err := n.serveAdmin()
		if err != nil {
			ln.Close()
			return err
		}
		defer stopAdmin()
	}
	url := scheme + "://" + ln.Addr().String()
	if err := writeFileAtomic(filepath.Join(n.cfg.DataDir, AddrFile), []byte(url+"\n")); err != nil {
		ln.Close()
		return err
	}
	sweepCtx, stopSweep := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSweep()
	go n.Envelope.RunSweeper(sweepCtx)
	go n.Attachments.RunSweeper(sweepCtx)
	go n.GDPR.RunRetention(sweepCtx)
	go n.Limits.Run(sweepCtx, time.Minute)
	go n.Devices.RunSweeper(sweepCtx)
	go func() {
		// An erasure a crash interrupted finishes now.
		if err := n.GDPR.FinishErasures(sweepCtx); err != nil && sweepCtx.Err() == nil {
			n.log.Error("finishing interrupted erasures", "err", err)
		}
	}()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	n.log.Info("hushd serving", "url", url, "data", n.cfg.DataDir)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	n.log.Info("hushd draining")
	n.stopping.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	defer cancel()
	shutErr := make(chan error, 1)
	go func() { shutErr <- srv.Shutdown(sctx) }()
	n.Envelope.Shutdown(sctx)
	err = <-shutErr
	n.Envelope.Close()
	stopSweep()
	_ = os.Remove(filepath.Join(n.cfg.DataDir, AddrFile))
	if errors.Is(err, context.DeadlineExceeded) {
		n.log.Warn("shutdown timed out; closing what is left")
		_ = srv.Close()
		return nil
	}
	n.log.Info("hushd stopped")
	return err
}

// serveAdmin serves the admin API, metrics and pprof on the admin
// listener: over TLS when it has a certificate, and only for the host
// names it knows (see httpx.HostAllowList).
func (n *Node) serveAdmin() (stop func(), err error) {
	scheme, tlsCfg := "http", (*tls.Config)(nil)
	if n.cfg.AdminTLSCert != "" || n.cfg.AdminTLSKey != "" {
		cert, err := tls.LoadX509KeyPair(n.cfg.AdminTLSCert, n.cfg.AdminTLSKey)
		if err != nil {
			return nil, fmt.Errorf("admin tls: %w", err)
		}
		scheme, tlsCfg = "https", &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	ln, err := net.Listen("tcp", n.cfg.AdminListen)
	if err != nil {
		return nil, fmt.Errorf("admin listen: %w", err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	url := scheme + "://" + ln.Addr().String()
	if err := writeFileAtomic(filepath.Join(n.cfg.DataDir, AdminAddrFile), []byte(url+"\n")); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", n.AdminRouter)
	mux.Handle("GET /metrics", n.Metrics.Handler())
	pprof := metrics.Pprof()
	if !n.cfg.AdminPprof {
		pprof = n.GDPR.Require(gdpr.RoleOperator)(pprof)
	}
	mux.Handle("/debug/pprof/", pprof)
	srv := &http.Server{
		Handler:           httpx.HostAllowList(n.adminHosts(), httpx.SecureHeaders(mux)),
		ReadHeaderTimeout: n.headerTimeout(),
		ReadTimeout:       n.cfg.ReadTimeout,
		ErrorLog:          httpx.ErrorLog(n.log),
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	n.log.Info("admin serving", "url", url, "pprof_open", n.cfg.AdminPprof)
	return func() {
		_ = srv.Close()
		<-done
		_ = os.Remove(filepath.Join(n.cfg.DataDir, AdminAddrFile))
	}, nil
}

// adminHosts are the names the admin listener answers for.
func (n *Node) adminHosts() []string {
	names := append([]string{"localhost"}, n.cfg.AdminHosts...)
	if h, _, err := net.SplitHostPort(n.cfg.AdminListen); err == nil && h != "" {
		names = append(names, h)
	}
	return names
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Stats opens a node's store and counts its rows.
func Stats(ctx context.Context, db, dataDir string) (map[string]int64, error) {
	if db == "" {
		if _, err := os.Stat(filepath.Join(dataDir, DBFile)); err != nil {
			return nil, fmt.Errorf("no hushd database in %s: %w", dataDir, err)
		}
	}
	s, err := OpenStore(ctx, db, dataDir)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Stats(ctx)
}

// Stats counts the rows of the node's store.
func (n *Node) Stats(ctx context.Context) (map[string]int64, error) { return n.store.Stats(ctx) }
