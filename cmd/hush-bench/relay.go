package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
	"github.com/hushmsg/hush/internal/devkeys"
	"github.com/hushmsg/hush/internal/server"
)

type relayConfig struct {
	DB       string
	Pairs    int
	Duration time.Duration
	Rate     int
	Size     int
	JSON     string
}

// relayResult is what the relay scenario reports.
type relayResult struct {
	Scenario   string  `json:"scenario"`
	Store      string  `json:"store"`
	Pairs      int     `json:"pairs"`
	Seconds    float64 `json:"seconds"`
	Sent       int64   `json:"sent"`
	Delivered  int64   `json:"delivered"`
	Failed     int64   `json:"failed"`
	PerSecond  float64 `json:"envelopes_per_second"`
	SendP50ms  float64 `json:"send_p50_ms"`
	SendP99ms  float64 `json:"send_p99_ms"`
	DeliverP50 float64 `json:"deliver_p50_ms"`
	DeliverP99 float64 `json:"deliver_p99_ms"`
	DeliverMax float64 `json:"deliver_max_ms"`
}

func relay(ctx context.Context, cfg relayConfig) error {
	url, stop, err := startNode(ctx, cfg.DB, 2*cfg.Pairs)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(os.Stderr, "hushd at %s; registering %d devices\n", url, 2*cfg.Pairs)
	devs, err := registerDevices(ctx, url, 2*cfg.Pairs)
	if err != nil {
		return err
	}

	var sent, delivered, failed atomic.Int64
	var mu sync.Mutex
	var sendLat, deliverLat []time.Duration
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg, senders sync.WaitGroup
	sendersDone := make(chan struct{})
	var every time.Duration
	if cfg.Rate > 0 {
		every = time.Duration(float64(time.Second) * float64(cfg.Pairs) / float64(cfg.Rate))
	}
	for i := 0; i < cfg.Pairs; i++ {
		from, to := devs[2*i], devs[2*i+1]
		rs, err := to.DialMessages(ctx)
		if err != nil {
			return err
		}
		ss, err := from.DialMessages(ctx)
		if err != nil {
			return err
		}
		toCreds, _ := to.Credentials()
		wg.Go(func() { // receiver: until the sender is done and the queue is quiet
			defer rs.Close()
			var local []time.Duration
			finished := func() bool {
				select {
				case <-sendersDone:
					return delivered.Load() >= sent.Load()
				default:
					return false
				}
			}
			for !finished() {
				nctx, c := context.WithTimeout(ctx, 2*time.Second)
				f, err := rs.Next(nctx)
				c()
				if err != nil {
					if rs.Err() != nil || ctx.Err() != nil {
						break // the socket or the run is over
					}
					select {
					case <-sendersDone:
						break // quiet after the end: nothing more will come
					default:
						continue
					}
					break
				}
				if f.Type != wire.TypeEnvelope {
					continue
				}
				if len(f.Envelope.Content) >= 8 {
					at := int64(binary.BigEndian.Uint64(f.Envelope.Content))
					local = append(local, time.Duration(time.Now().UnixNano()-at))
				}
				delivered.Add(1)
				_ = rs.Ack(ctx, f.Envelope.ID)
			}
			mu.Lock()
			deliverLat = append(deliverLat, local...)
			mu.Unlock()
		})
		senders.Add(1)
		wg.Go(func() { // sender: one send at a time, answered after commit
			defer senders.Done()
			defer ss.Close()
			payload := make([]byte, cfg.Size)
			_, _ = rand.Read(payload)
			var local []time.Duration
			next := time.Now()
			for runCtx.Err() == nil {
				if every > 0 {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					next = next.Add(every)
				}
				start := time.Now()
				binary.BigEndian.PutUint64(payload, uint64(start.UnixNano()))
				_, err := ss.Send(ctx, &api.Send{Destination: toCreds.AccountID, Messages: []api.OutgoingMessage{
					{DeviceID: 1, RegistrationID: 1, Type: 2, Content: payload}}})
				if err != nil {
					failed.Add(1)
					continue
				}
				local = append(local, time.Since(start))
				sent.Add(1)
			}
			mu.Lock()
			sendLat = append(sendLat, local...)
			mu.Unlock()
		})
	}
	start := time.Now()
	go progress(runCtx, start, &sent, &delivered)
	senders.Wait()
	close(sendersDone)
	wg.Wait()
	elapsed := time.Since(start)

	res := relayResult{Scenario: "relay", Store: storeName(cfg.DB), Pairs: cfg.Pairs, Seconds: cfg.Duration.Seconds(),
		Sent: sent.Load(), Delivered: delivered.Load(), Failed: failed.Load(),
		PerSecond: float64(delivered.Load()) / min(elapsed, cfg.Duration).Seconds()}
	res.SendP50ms, res.SendP99ms, _ = percentiles(sendLat)
	res.DeliverP50, res.DeliverP99, res.DeliverMax = percentiles(deliverLat)
	printTable(os.Stdout, &res)
	if cfg.JSON != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(cfg.JSON, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func storeName(db string) string {
	if db == "" {
		return "sqlite"
	}
	return "postgres"
}

func progress(ctx context.Context, start time.Time, sent, delivered *atomic.Int64) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d := delivered.Load()
			fmt.Fprintf(os.Stderr, "%5.0fs  sent %8d  delivered %8d  (%6d/s)\n", time.Since(start).Seconds(), sent.Load(), d, d-last)
			last = d
		}
	}
}

// percentiles returns p50, p99 and max in milliseconds.
func percentiles(d []time.Duration) (p50, p99, maxMS float64) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	return ms(d[len(d)/2]), ms(d[len(d)*99/100]), ms(d[len(d)-1])
}

func printTable(w io.Writer, r *relayResult) {
	fmt.Fprintf(w, "scenario  store     pairs  sent      delivered  failed  env/s     send p50  send p99  deliver p50  deliver p99  max\n")
	fmt.Fprintf(w, "%-9s %-9s %-6d %-9d %-10d %-7d %-9.0f %-9.2f %-9.2f %-12.2f %-12.2f %.2f\n",
		r.Scenario, r.Store, r.Pairs, r.Sent, r.Delivered, r.Failed, r.PerSecond, r.SendP50ms, r.SendP99ms, r.DeliverP50, r.DeliverP99, r.DeliverMax)
}

// benchNumber is the i-th test number the bench registers.
func benchNumber(i int) string { return fmt.Sprintf("+1555%07d", i) }

const benchCode = "424242"

// startNode runs a hushd in this process with test numbers for n devices.
func startNode(ctx context.Context, db string, n int) (string, func(), error) {
	dir, err := os.MkdirTemp("", "hush-bench-")
	if err != nil {
		return "", nil, err
	}
	cfg := server.Defaults()
	cfg.DataDir, cfg.DB, cfg.Listen, cfg.AdminListen = dir, db, "127.0.0.1:0", ""
	cfg.Devices.TestNumbers = map[string]string{}
	for i := range n {
		cfg.Devices.TestNumbers[benchNumber(i)] = benchCode
	}
	cfg.Devices.VerifyPerAddr.Burst = 0 // one address registers every device
	cfg.Keys.BundleLimit.Burst = 0      // the bundles scenario measures the store, not the limit
	cfg.Envelope.SendLimit.Burst = 0    // nor do the others measure the send limit
	cfg.Envelope.MaxConnsPerAddr = 0    // every simulated device comes from loopback
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	node, err := server.New(ctx, cfg, logger)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- node.Serve(nctx) }()
	stop := func() { cancel(); <-done; os.RemoveAll(dir) }
	addr := filepath.Join(dir, server.AddrFile)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(addr); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b)), stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("hushd did not start")
}

// registerDevices registers n accounts (one device each, registration id 1).
func registerDevices(ctx context.Context, url string, n int) ([]*client.Client, error) {
	anon, err := client.New(client.Config{BaseURL: url})
	if err != nil {
		return nil, err
	}
	out := make([]*client.Client, n)
	for i := range n {
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
		out[i] = anon.WithCredentials(client.Credentials{AccountID: creds.AccountID, DeviceID: creds.DeviceID, Password: creds.Password})
	}
	return out, nil
}
