package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"log/slog"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/envelope"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
	"github.com/hushmsg/hush/internal/devkeys"
	"github.com/hushmsg/hush/internal/server"
)

// target is the hushd a scenario runs against: one the bench started in
// its own process, or one already running (--url).
type target struct {
	url     string
	admin   string // admin listener base URL, for /metrics; "" if unknown
	db      string // PostgreSQL URL; "" for SQLite
	dataDir string // SQLite's directory, for the raw store measurement
	running bool   // a hushd started elsewhere (--url)
	stop    func()
}

type targetFlags struct {
	URL, Admin, Data string
}

// newTarget starts a hushd in this process, or uses the running one named
// by f.URL (started with test numbers for the bench; see docs/benchmarks.md).
func newTarget(ctx context.Context, f targetFlags, db string, devices int) (*target, error) {
	if f.URL != "" {
		return &target{url: strings.TrimRight(f.URL, "/"), admin: strings.TrimRight(f.Admin, "/"), db: db, dataDir: f.Data, running: true, stop: func() {}}, nil
	}
	return startNode(ctx, db, devices)
}

// storeName names the target's store: for a running hushd, only as far as
// --db or --data tell.
func (t *target) storeName() string {
	if t.running && t.db == "" && t.dataDir == "" {
		return "unknown"
	}
	return storeName(t.db)
}

// counter reads a counter or gauge without labels from the target's
// /metrics; ok is false when there is no admin URL or no such metric.
func (t *target) counter(name string) (v float64, ok bool) {
	if t.admin == "" {
		return 0, false
	}
	resp, err := http.Get(t.admin + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// startNode runs a hushd in this process with test numbers for n devices.
func startNode(ctx context.Context, db string, n int) (*target, error) {
	dir, err := os.MkdirTemp("", "hush-bench-")
	if err != nil {
		return nil, err
	}
	cfg := server.Defaults()
	cfg.DataDir, cfg.DB, cfg.Listen, cfg.AdminListen = dir, db, "127.0.0.1:0", "127.0.0.1:0"
	cfg.Devices.TestNumbers = map[string]string{}
	for i := range n {
		cfg.Devices.TestNumbers[benchNumber(i)] = benchCode
	}
	cfg.Devices.VerifyPerAddr.Burst = 0 // one address registers every device
	cfg.Keys.BundleLimit.Burst = 0      // the bundles scenario measures the store, not the limit
	cfg.Keys.PairLimit.Burst = 0        // and claims that take one-time keys
	cfg.Keys.TargetLimit.Burst = 0
	cfg.Envelope.SendLimit.Burst = 0 // nor do the others measure the send limit
	cfg.Envelope.MaxConnsPerAddr = 0 // every simulated device comes from loopback
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	node, err := server.New(ctx, cfg, logger)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- node.Serve(nctx) }()
	t := &target{db: db, dataDir: dir, stop: func() { cancel(); <-done; os.RemoveAll(dir) }}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		a, errA := os.ReadFile(filepath.Join(dir, server.AddrFile))
		b, errB := os.ReadFile(filepath.Join(dir, server.AdminAddrFile))
		if errA == nil && errB == nil && len(a) > 0 && len(b) > 0 {
			t.url, t.admin = strings.TrimSpace(string(a)), strings.TrimSpace(string(b))
			return t, nil
		}
	}
	t.stop()
	return nil, errors.New("hushd did not start")
}

// benchNumber is the i-th test number the bench registers; a hushd for
// --url runs with --test-numbers '+15550000000..+15550999999=424242'.
func benchNumber(i int) string { return fmt.Sprintf("+1555%07d", i) }

const benchCode = "424242"

// registerDevices registers n accounts (one device each, registration id
// 1), several at a time.
func registerDevices(ctx context.Context, url string, n int) ([]*client.Client, error) {
	anon, err := client.New(client.Config{BaseURL: url})
	if err != nil {
		return nil, err
	}
	out := make([]*client.Client, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && first.Load() == nil; i = int(next.Add(1) - 1) {
				c, err := registerOne(ctx, anon, i)
				if err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
				out[i] = c
			}
		})
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return nil, *p
	}
	return out, nil
}

func registerOne(ctx context.Context, anon *client.Client, i int) (*client.Client, error) {
	id, err := devkeys.NewIdentity()
	if err != nil {
		return nil, err
	}
	dk, err := id.DeviceKeys(1)
	if err != nil {
		return nil, err
	}
	creds, err := anon.Verify(ctx, &api.Verify{Number: benchNumber(i), Code: benchCode, IdentityKey: id.Public(), DeviceKeys: dk})
	if err != nil {
		return nil, fmt.Errorf("register device %d: %w", i, err)
	}
	return anon.WithCredentials(client.Credentials{AccountID: creds.AccountID, DeviceID: creds.DeviceID, Password: creds.Password}), nil
}

// Raw store measurement: the store's own limit for the envelope life cycle,
// measured on the target's backend with the store code hushd uses, without
// hushd: batches of rawBatch envelope-sized rows inserted in one
// transaction and deleted in another, by rawWriters concurrent writers.
const (
	rawBatch   = 512
	rawWriters = 4
)

// rawStore reports the durable insert + delete rate, envelopes per second,
// for device dev's mailbox (which must exist and be offline).
func rawStore(ctx context.Context, t *target, dev client.Credentials, size int, d time.Duration) (float64, error) {
	if t.db == "" && t.dataDir == "" {
		return 0, errors.New("the raw store limit of an external SQLite hushd needs --data")
	}
	st, err := server.OpenStore(ctx, t.db, t.dataDir)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	content := make([]byte, size)
	var done atomic.Int64
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	start := time.Now()
	for range rawWriters {
		wg.Go(func() {
			envs := make([]envelope.Stored, rawBatch)
			acks := make([]envelope.Acked, rawBatch)
			for runCtx.Err() == nil {
				now := time.Now()
				for i := range envs {
					id := uuid.New()
					envs[i] = envelope.Stored{AccountID: dev.AccountID, DeviceID: dev.DeviceID, ID: id,
						SourceAccount: dev.AccountID, SourceDevice: dev.DeviceID, Type: 2, Content: content,
						ServerTimestamp: now.UnixMilli(), Expires: now.Add(time.Hour)}
				}
				if err := st.Insert(ctx, envs, envelope.Quota{}); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
				for i := range envs {
					acks[i] = envelope.Acked{AckKey: envelope.AckKey{AccountID: dev.AccountID, DeviceID: dev.DeviceID, ID: envs[i].ID}, Seq: envs[i].Seq}
				}
				if err := st.Ack(ctx, acks); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
				done.Add(rawBatch)
			}
		})
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return 0, *p
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}
