// Command hushd is the Hush server. With no flags it runs the embedded
// profile: SQLite in ./hush-data, the in-process bus, and codes written to
// a development outbox file; with --db or --nats an SMS gateway (--sms)
// is required. Every flag has a HUSH_* environment
// equivalent; a flag on the command line wins.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/internal/clientaddr"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/push"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		log.Fatal(err)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "stats" {
		return stats(ctx, args[1:])
	}
	if len(args) > 0 && args[0] == "admin" {
		return admin(ctx, args[1:], os.Stdout)
	}
	if len(args) > 0 && args[0] == "vapid-keys" {
		pub, priv, err := push.GenerateVAPIDKeys()
		if err != nil {
			return err
		}
		fmt.Printf("HUSH_VAPID_PUBLIC_KEY=%s\nHUSH_VAPID_PRIVATE_KEY=%s\n", pub, priv)
		return nil
	}
	cfg := server.Defaults()
	fs := flag.NewFlagSet("hushd", flag.ContinueOnError)
	logFormat := "text"
	var testNumbers string
	bindConfig(fs, &cfg, &logFormat, &testNumbers)
	bindRegistration(fs, &cfg)
	pf := bindProviders(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	providers, err := pf.config()
	if err != nil {
		return err
	}
	cfg.Providers = providers
	numbers, err := parseTestNumbers(testNumbers)
	if err != nil {
		return err
	}
	cfg.Devices.TestNumbers = numbers
	logger, err := newLogger(logFormat)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	node, err := server.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	return node.Serve(ctx)
}

// parse applies HUSH_* environment variables, then the command line.
func parse(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := "HUSH_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", env, e)
			}
		}
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
}

func bindConfig(fs *flag.FlagSet, cfg *server.Config, logFormat, testNumbers *string) {
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory (SQLite database, dev SMS outbox)")
	fs.StringVar(&cfg.DB, "db", "", "PostgreSQL URL (postgres://...); empty: SQLite in the data directory")
	fs.StringVar(&cfg.NATS, "nats", "", "NATS URL (nats://host:4222) for delivery across nodes; empty: one node, in-process bus")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to serve the public API on (host:port; port 0 picks one)")
	fs.StringVar(&cfg.AdminListen, "admin-listen", cfg.AdminListen, "address for the admin API, /metrics and /debug/pprof (loopback or a private network; empty: off)")
	fs.Func("admin-host", "host names the admin listener answers for besides its listen host, localhost and IP addresses (comma-separated; others get 421)", func(v string) error {
		cfg.AdminHosts = nil
		for h := range strings.SplitSeq(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				if strings.ContainsAny(h, "/ @") {
					return fmt.Errorf("%q is not a host name", h)
				}
				cfg.AdminHosts = append(cfg.AdminHosts, h)
			}
		}
		return nil
	})
	fs.StringVar(&cfg.AdminTLSCert, "admin-tls-cert", "", "TLS certificate file (PEM) for the admin listener; with --admin-tls-key serves it over HTTPS")
	fs.StringVar(&cfg.AdminTLSKey, "admin-tls-key", "", "TLS private key file (PEM) for the admin listener")
	fs.BoolVar(&cfg.AdminPprof, "admin-pprof", false, "serve /debug/pprof/ on the admin listener without a token (otherwise: operator admin tokens only)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key serves HTTPS")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.Func("acme-domain", "serve HTTPS with certificates from an ACME CA for these domains (comma-separated); needs port 443 reachable, or --acme-http on port 80", func(v string) error {
		cfg.ACME.Domains = nil
		for d := range strings.SplitSeq(v, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			if d == "" {
				continue
			}
			if strings.ContainsAny(d, ":/ @*") || !strings.Contains(d, ".") {
				return fmt.Errorf("%q is not a domain name (like chat.example.org)", d)
			}
			cfg.ACME.Domains = append(cfg.ACME.Domains, d)
		}
		return nil
	})
	fs.StringVar(&cfg.ACME.Email, "acme-email", "", "contact address given to the ACME CA for expiry notices (optional)")
	fs.StringVar(&cfg.ACME.DirectoryURL, "acme-directory", server.LetsEncrypt, "ACME directory URL")
	fs.StringVar(&cfg.ACME.CacheDir, "acme-cache", "", "directory for the ACME account key and certificates; empty: acme/ in the data directory")
	fs.StringVar(&cfg.ACME.HTTPListen, "acme-http", "", "address (like :80) that answers ACME HTTP-01 challenges and redirects to https; empty: off")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, "how long a request's headers and body may take to arrive (upload parts get more by size)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long a drain may take on SIGTERM")
	fs.StringVar(logFormat, "log-format", *logFormat, "log format: text or json")
	fs.StringVar(testNumbers, "test-numbers", "", "test numbers with fixed codes, e.g. +15550000001=111111,+15550000002=222222 or a range +15550000000..+15550099999=424242 (no SMS is sent for them)")
	fs.IntVar(&cfg.Devices.MaxDevices, "max-devices", cfg.Devices.MaxDevices, "devices per account, the primary included")
	fs.DurationVar(&cfg.Devices.CodeTTL, "code-ttl", cfg.Devices.CodeTTL, "how long a registration code is valid")
	fs.IntVar(&cfg.Devices.CodeAttempts, "code-attempts", cfg.Devices.CodeAttempts, "wrong tries allowed per registration code")
	fs.IntVar(&cfg.Devices.CodePerNumber.Burst, "code-rate-number", cfg.Devices.CodePerNumber.Burst, "code requests per number per 10 minutes (0: unlimited)")
	fs.IntVar(&cfg.Devices.CodePerAddress.Burst, "code-rate-address", cfg.Devices.CodePerAddress.Burst, "code requests per client address per hour (0: unlimited)")
	fs.IntVar(&cfg.Devices.VerifyPerAddr.Burst, "verify-rate-address", cfg.Devices.VerifyPerAddr.Burst, "verification attempts per client address per hour (0: unlimited)")
	fs.IntVar(&cfg.Devices.DirectoryLimit.Burst, "directory-rate", cfg.Devices.DirectoryLimit.Burst, "directory lookups per account per minute (0: unlimited)")
	fs.IntVar(&cfg.Devices.DirectoryDaily.Burst, "directory-daily", cfg.Devices.DirectoryDaily.Burst, "directory lookups per account per day (0: unlimited)")
	fs.IntVar(&cfg.Devices.SMSPrefixHour.Burst, "sms-rate-prefix", cfg.Devices.SMSPrefixHour.Burst, "codes sent by SMS per country calling code per hour (0: unlimited)")
	fs.IntVar(&cfg.Devices.SMSPrefixDay.Burst, "sms-rate-prefix-daily", cfg.Devices.SMSPrefixDay.Burst, "codes sent by SMS per country calling code per day (0: unlimited)")
	fs.IntVar(&cfg.Devices.SMSHour.Burst, "sms-rate-global", cfg.Devices.SMSHour.Burst, "codes sent by SMS in all per hour (0: unlimited)")
	fs.IntVar(&cfg.Devices.SMSDay.Burst, "sms-rate-global-daily", cfg.Devices.SMSDay.Burst, "codes sent by SMS in all per day (0: unlimited)")
	fs.IntVar(&cfg.Keys.BundleLimit.Burst, "bundle-rate", cfg.Keys.BundleLimit.Burst, "bundle fetches per device per minute (0: unlimited)")
	fs.IntVar(&cfg.Keys.PairLimit.Burst, "prekey-rate-pair", cfg.Keys.PairLimit.Burst, "bundle fetches per account of another account's bundles per hour that take one-time prekeys; past it a fetch gets none (0: unlimited)")
	fs.IntVar(&cfg.Keys.TargetLimit.Burst, "prekey-rate-target", cfg.Keys.TargetLimit.Burst, "bundle fetches of one account's bundles per hour that take one-time prekeys (at most one per device each); past it a fetch gets none (0: unlimited)")
	fs.IntVar(&cfg.Groups.CreateLimit.Burst, "group-create-rate", cfg.Groups.CreateLimit.Burst, "groups an account may create per hour (0: unlimited)")
	fs.IntVar(&cfg.Groups.AddLimit.Burst, "group-add-rate", cfg.Groups.AddLimit.Burst, "members an account may add to groups per hour, at creation or later (0: unlimited)")
	fs.Int64Var(&cfg.Envelope.MailboxMaxEnvelopes, "mailbox-max-envelopes", cfg.Envelope.MailboxMaxEnvelopes, "unacknowledged envelopes per device; past it sends to it get 429 mailbox_full (0: unlimited)")
	fs.Int64Var(&cfg.Envelope.MailboxMaxBytes, "mailbox-max-bytes", cfg.Envelope.MailboxMaxBytes, "bytes of unacknowledged envelopes per device; past it sends to it get 429 mailbox_full (0: unlimited)")
	fs.Func("trusted-proxies", "load balancers (CIDRs or addresses, comma-separated) whose X-Forwarded-For, or PROXY protocol header with --proxy-protocol, names the client; empty: the peer is the client", func(v string) error {
		t, err := clientaddr.ParseTrusted(v)
		cfg.TrustedProxies = t
		return err
	})
	fs.BoolVar(&cfg.ProxyProtocol, "proxy-protocol", false, "read a PROXY protocol v1/v2 header on connections from --trusted-proxies")
	fs.IntVar(&cfg.Keys.LowWater, "prekey-low-water", cfg.Keys.LowWater, "one-time prekey count under which a device is told to upload more")
	fs.IntVar(&cfg.Envelope.MaxContent, "max-message-size", cfg.Envelope.MaxContent, "bytes of ciphertext per device message")
	fs.DurationVar(&cfg.Envelope.TTL, "message-ttl", cfg.Envelope.TTL, "how long an unacknowledged envelope is kept")
	fs.DurationVar(&cfg.Envelope.SweepInterval, "sweep-interval", cfg.Envelope.SweepInterval, "how often expired envelopes are deleted")
	fs.IntVar(&cfg.Envelope.SendLimit.Burst, "send-rate", cfg.Envelope.SendLimit.Burst, "sends per account per minute (0: unlimited)")
	fs.IntVar(&cfg.Envelope.MaxConnsPerAddr, "max-conns-per-address", cfg.Envelope.MaxConnsPerAddr, "device WebSockets from one client address (0: unlimited)")
	fs.IntVar(&cfg.Devices.MaxProvisioningPerAddr, "max-provisioning-per-address", cfg.Devices.MaxProvisioningPerAddr, "provisioning WebSockets (devices being linked) from one client address (0: unlimited)")
	fs.IntVar(&cfg.Devices.MaxProvisioningSockets, "max-provisioning-sockets", cfg.Devices.MaxProvisioningSockets, "provisioning WebSockets open on this node (0: unlimited)")
	fs.DurationVar(&cfg.Devices.ProvisioningSocketTTL, "provisioning-socket-ttl", cfg.Devices.ProvisioningSocketTTL, "how long a provisioning WebSocket waits for the primary's message before it is closed")
	fs.DurationVar(&cfg.Envelope.LiveHold, "live-hold", cfg.Envelope.LiveHold, "how long an envelope handed straight to a connected device waits for its ack before it is stored (0: store first)")
	fs.IntVar(&cfg.Envelope.DirectQueue, "direct-queue", cfg.Envelope.DirectQueue, "envelopes waiting for one connected device before they go through the store")
	fs.IntVar(&cfg.Envelope.Window, "delivery-window", cfg.Envelope.Window, "unacknowledged envelopes in flight per device socket")
	fs.IntVar(&cfg.Envelope.MaxSendsInFlight, "max-sends-in-flight", cfg.Envelope.MaxSendsInFlight, "unanswered sends per device socket before its reader waits")
	fs.IntVar(&cfg.Groups.MaxMembers, "max-group-members", cfg.Groups.MaxMembers, "members per group, the creator included")
	fs.IntVar(&cfg.Envelope.MaxGroupRecipients, "max-group-recipients", cfg.Envelope.MaxGroupRecipients, "devices one group send may name")
	fs.Int64Var(&cfg.Attachments.MaxSize, "max-attachment-size", cfg.Attachments.MaxSize, "bytes of ciphertext per attachment (uploaded in 8 MiB parts)")
	fs.DurationVar(&cfg.Attachments.TTL, "attachment-ttl", cfg.Attachments.TTL, "how long an attachment is kept after its upload")
	fs.DurationVar(&cfg.Attachments.UploadTTL, "attachment-upload-ttl", cfg.Attachments.UploadTTL, "how long an unfinished upload may be resumed before its parts are deleted")
	fs.DurationVar(&cfg.Attachments.URLTTL, "attachment-url-ttl", cfg.Attachments.URLTTL, "how long a signed upload or download URL is valid")
	fs.IntVar(&cfg.Attachments.UploadLimit.Burst, "attachment-rate", cfg.Attachments.UploadLimit.Burst, "attachment uploads per account per hour (0: unlimited)")
	fs.StringVar(&cfg.Attachments.CDN, "attachments-cdn", "", "CDN base URL downloads go through ({URL}/{id}); empty: signed URLs to the blob store")
	fs.StringVar(&cfg.Attachments.S3.Bucket, "s3-bucket", "", "S3 bucket for attachments; empty: the data directory (credentials: the standard AWS chain)")
	fs.StringVar(&cfg.Attachments.S3.Region, "s3-region", "", "S3 region (empty: from the AWS configuration, else us-east-1)")
	fs.StringVar(&cfg.Attachments.S3.Endpoint, "s3-endpoint", "", "S3-compatible endpoint URL (MinIO, Ceph, R2, ...); empty: AWS")
	fs.BoolVar(&cfg.Attachments.S3.PathStyle, "s3-path-style", false, "address the bucket in the path, not the host name (most S3-compatible stores)")
	fs.StringVar(&cfg.Attachments.S3.Prefix, "s3-prefix", "", "prefix of every attachment's object key")
	fs.DurationVar(&cfg.GDPR.AccountRetention, "retention-account", cfg.GDPR.AccountRetention, "erase accounts inactive this long (0: keep)")
	fs.DurationVar(&cfg.GDPR.DeviceRetention, "retention-device", cfg.GDPR.DeviceRetention, "remove linked devices inactive this long (0: keep)")
	fs.DurationVar(&cfg.GDPR.AuditRetention, "retention-audit", cfg.GDPR.AuditRetention, "delete audit log entries older than this (0: keep)")
	fs.DurationVar(&cfg.Push.WakeInterval, "push-interval", cfg.Push.WakeInterval, "least time between two wake-up pushes to a device that has not connected in between (a failed one counts)")
	fs.IntVar(&cfg.Push.Workers, "push-workers", cfg.Push.Workers, "wake-up pushes sent at once")
	fs.IntVar(&cfg.Push.HostConcurrency, "push-host-concurrency", cfg.Push.HostConcurrency, "wake-up pushes sent at once to one push host (a Web Push or WNS host, or APNs, or FCM)")
	fs.IntVar(&cfg.Push.BreakerFailures, "push-breaker-failures", cfg.Push.BreakerFailures, "failed pushes in a row to one host that stop pushes there for --push-breaker-cooldown (0: never)")
	fs.DurationVar(&cfg.Push.BreakerCooldown, "push-breaker-cooldown", cfg.Push.BreakerCooldown, "how long an open breaker stops pushes to a host before one probe")
	fs.DurationVar(&cfg.Push.Timeout, "push-timeout", cfg.Push.Timeout, "how long one push attempt may take")
	fs.DurationVar(&cfg.Push.MaxBackoff, "push-max-backoff", cfg.Push.MaxBackoff, "longest wait before retrying a push, a service's Retry-After included")
	fs.DurationVar(&cfg.Envelope.PingInterval, "ws-ping", cfg.Envelope.PingInterval, "WebSocket keepalive interval; a peer silent for two is dropped")
	fs.DurationVar(&cfg.Envelope.MessageTimeout, "ws-message-timeout", cfg.Envelope.MessageTimeout, "how long a client's WebSocket message may take once its first frame has come (then closed with 4004)")
}

// bindRegistration binds the SMS gateway and registration lock flags.
func bindRegistration(fs *flag.FlagSet, cfg *server.Config) {
	sc := &cfg.SMS
	fs.StringVar(&sc.Kind, "sms", "", "how registration codes are sent: webhook, twilio, dev (a file; embedded profile only) or none (test numbers only); empty: dev without --db and --nats, else required")
	fs.StringVar(&sc.Webhook.URL, "sms-webhook-url", "", "with --sms webhook: URL that gets a signed JSON POST per code (https)")
	fs.Func("sms-webhook-secret", "with --sms webhook: HMAC-SHA256 key of the Hush-Signature header, at least 32 characters (prefer the environment)", func(v string) error {
		sc.Webhook.Secret = devices.Secret(v)
		return nil
	})
	fs.StringVar(&sc.Twilio.AccountSID, "twilio-account-sid", "", "with --sms twilio: account SID (AC...)")
	fs.Func("twilio-auth-token", "with --sms twilio: auth token (prefer the environment)", func(v string) error {
		sc.Twilio.AuthToken = devices.Secret(v)
		return nil
	})
	fs.StringVar(&sc.Twilio.From, "twilio-from", "", "with --sms twilio: sending number (E.164) or sender id")
	fs.StringVar(&sc.Twilio.MessagingServiceSID, "twilio-messaging-service-sid", "", "with --sms twilio: Messaging Service SID (MG...) instead of --twilio-from")
	fs.StringVar(&sc.Twilio.BaseURL, "twilio-base-url", sc.Twilio.BaseURL, "Twilio API base URL (a regional edge)")
	fs.DurationVar(&sc.Timeout, "sms-timeout", sc.Timeout, "how long one request to the SMS gateway may take")
	fs.IntVar(&sc.Attempts, "sms-attempts", sc.Attempts, "requests per code to the SMS gateway, the first included (retried on network errors, 429 and 5xx)")
	fs.Func("reglock-days", "days a registration lock holds after the account's last activity (default 7)", func(v string) error {
		d, err := strconv.Atoi(v)
		if err != nil || d < 1 || d > 3650 {
			return errors.New("must be a number of days from 1 to 3650")
		}
		cfg.Devices.ReglockInactivity = time.Duration(d) * 24 * time.Hour
		return nil
	})
	fs.IntVar(&cfg.Devices.ReglockAttempts, "reglock-attempts", cfg.Devices.ReglockAttempts, "registration lock tokens tried per account per day")
}

// providerFlags are the push services' settings as flags.
type providerFlags struct {
	apns      push.APNsConfig
	fcm       push.FCMConfig
	webpush   push.WebPushConfig
	webpushOn bool
	wns       push.WNSConfig
}

func bindProviders(fs *flag.FlagSet) *providerFlags {
	p := &providerFlags{webpushOn: true}
	fs.StringVar(&p.apns.KeyFile, "apns-key-file", "", "APNs token signing key (.p8); with --apns-key-id and --apns-team-id turns APNs on")
	fs.StringVar(&p.apns.KeyID, "apns-key-id", "", "APNs signing key id")
	fs.StringVar(&p.apns.TeamID, "apns-team-id", "", "Apple developer team id")
	fs.StringVar(&p.apns.Topic, "apns-topic", "", "app bundle id for APNs registrations that name none")
	fs.StringVar(&p.fcm.CredentialsFile, "fcm-credentials", "", "Firebase service account key (JSON); turns FCM on")
	fs.StringVar(&p.fcm.ProjectID, "fcm-project", "", "Firebase project id (default: the key's)")
	fs.BoolVar(&p.webpushOn, "webpush", true, "send Web Push / UnifiedPush wake-ups")
	fs.StringVar(&p.webpush.VAPIDPublicKey, "vapid-public-key", "", "VAPID public key (base64url; see hushd vapid-keys); empty: a pair kept in the data directory")
	fs.StringVar(&p.webpush.VAPIDPrivateKey, "vapid-private-key", "", "VAPID private key (base64url; prefer the environment)")
	fs.StringVar(&p.webpush.Subscriber, "vapid-subject", "mailto:postmaster@localhost", "contact push services see in VAPID tokens (mailto: or https:)")
	fs.BoolVar(&p.webpush.AllowPrivate, "webpush-allow-private", false, "allow Web Push endpoints on loopback and private networks, over http too (self-hosted UnifiedPush, development)")
	fs.StringVar(&p.wns.PackageSID, "wns-package-sid", "", "WNS package SID (client id); with --wns-client-secret turns WNS on")
	fs.StringVar(&p.wns.ClientSecret, "wns-client-secret", "", "WNS client secret (prefer the environment)")
	return p
}

// config turns the flags into the providers they enable.
func (p *providerFlags) config() (server.ProvidersConfig, error) {
	var out server.ProvidersConfig
	switch {
	case p.apns.KeyFile != "" && (p.apns.KeyID == "" || p.apns.TeamID == ""):
		return out, errors.New("--apns-key-file needs --apns-key-id and --apns-team-id")
	case p.apns.KeyFile != "":
		out.APNs = &p.apns
	}
	if p.fcm.CredentialsFile != "" {
		out.FCM = &p.fcm
	}
	if (p.webpush.VAPIDPublicKey == "") != (p.webpush.VAPIDPrivateKey == "") {
		return out, errors.New("--vapid-public-key and --vapid-private-key go together")
	}
	if p.webpushOn {
		// A private network's distributor often speaks plain http; the
		// message itself is still encrypted (RFC 8291).
		p.webpush.AllowInsecure = p.webpush.AllowPrivate
		out.WebPush = &p.webpush
	}
	switch {
	case (p.wns.PackageSID == "") != (p.wns.ClientSecret == ""):
		return out, errors.New("--wns-package-sid and --wns-client-secret go together")
	case p.wns.PackageSID != "":
		out.WNS = &p.wns
	}
	return out, nil
}

// maxTestRange bounds the numbers one FROM..TO range of --test-numbers
// may name.
const maxTestRange = 1_000_000

func parseTestNumbers(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		numbers, code, ok := strings.Cut(pair, "=")
		if !ok || len(code) != 6 || strings.Trim(code, "0123456789") != "" {
			return nil, fmt.Errorf("--test-numbers: %q is not +NUMBER=6DIGITS or +FROM..+TO=6DIGITS", pair)
		}
		from, to, isRange := strings.Cut(numbers, "..")
		if !isRange {
			to = from
		}
		lo, errLo := testNumber(from)
		hi, errHi := testNumber(to)
		if errLo != nil || errHi != nil || len(from) != len(to) || hi < lo || hi-lo >= maxTestRange {
			return nil, fmt.Errorf("--test-numbers: %q is not +NUMBER=6DIGITS or +FROM..+TO=6DIGITS (same length, at most %d numbers)", pair, maxTestRange)
		}
		for n := lo; n <= hi; n++ {
			out[fmt.Sprintf("+%0*d", len(from)-1, n)] = code
		}
	}
	return out, nil
}

func testNumber(s string) (uint64, error) {
	if len(s) < 2 || len(s) > 16 || s[0] != '+' {
		return 0, errors.New("not +DIGITS")
	}
	return strconv.ParseUint(s[1:], 10, 64)
}

func newLogger(format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, nil)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}

func stats(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("hushd stats", flag.ContinueOnError)
	data := fs.String("data", server.Defaults().DataDir, "data directory")
	db := fs.String("db", "", "PostgreSQL URL; empty: SQLite in the data directory")
	if err := parse(fs, args); err != nil {
		return err
	}
	st, err := server.Stats(ctx, *db, *data)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(st)
}
