package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
)

type relayConfig struct {
	DB       string
	Pairs    int
	Duration time.Duration
	Rate     int
	Size     int
	JSON     string
	Plot     string
	Raw      time.Duration
	Target   targetFlags
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
	// The store's own limit (insert + delete, see rawStore), measured in
	// the same run, and the relay's rate as a share of it.
	RawStorePerSecond float64 `json:"raw_store_per_second,omitempty"`
	RawRatio          float64 `json:"relay_to_raw_store,omitempty"`
	// From the server's metrics: envelopes written to the store, and
	// envelopes acked before they were ever stored.
	Stored        float64  `json:"stored,omitempty"`
	AckedUnstored float64  `json:"acked_unstored,omitempty"`
	Series        []second `json:"series"`
}

// second is one second of the run.
type second struct {
	T          int     `json:"t"`
	Delivered  int     `json:"delivered"`
	DeliverP50 float64 `json:"deliver_p50_ms"`
	DeliverP99 float64 `json:"deliver_p99_ms"`
}

// sample is one delivery: when, and how long after its send.
type sample struct {
	at  time.Time
	lat time.Duration
}

func relay(ctx context.Context, cfg relayConfig) error {
	t, err := newTarget(ctx, cfg.Target, cfg.DB, 2*cfg.Pairs)
	if err != nil {
		return err
	}
	defer t.stop()
	fmt.Fprintf(os.Stderr, "hushd at %s; registering %d devices\n", t.url, 2*cfg.Pairs)
	devs, err := registerDevices(ctx, t.url, 2*cfg.Pairs)
	if err != nil {
		return err
	}
	var raw float64
	if cfg.Raw > 0 {
		// The first receiver is registered and not connected yet: its
		// mailbox takes the raw rows.
		creds, _ := devs[1].Credentials()
		fmt.Fprintf(os.Stderr, "measuring the store's own limit for %s\n", cfg.Raw)
		if raw, err = rawStore(ctx, t, creds, cfg.Size, cfg.Raw); err != nil {
			return fmt.Errorf("raw store: %w", err)
		}
		fmt.Fprintf(os.Stderr, "store: %.0f envelopes/s (insert + delete, batches of %d, %d writers)\n", raw, rawBatch, rawWriters)
	}
	stored0, _ := t.counter("hush_envelopes_stored_total")
	unstored0, _ := t.counter("hush_envelopes_acked_unstored_total")

	var sent, delivered, failed atomic.Int64
	var mu sync.Mutex
	var sendLat []time.Duration
	var deliveries []sample
	// Every socket is open before the clock starts: dialing hundreds of
	// them takes a while, and the senders must not run during it.
	type pair struct {
		rs, ss *client.MessageSocket
		to     string
	}
	pairs := make([]pair, cfg.Pairs)
	for i := range pairs {
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
		pairs[i] = pair{rs, ss, toCreds.AccountID}
	}
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg, senders sync.WaitGroup
	sendersDone := make(chan struct{})
	var every time.Duration
	if cfg.Rate > 0 {
		every = time.Duration(float64(time.Second) * float64(cfg.Pairs) / float64(cfg.Rate))
	}
	start := time.Now()
	for _, p := range pairs {
		rs, ss := p.rs, p.ss
		wg.Go(func() { // receiver: until the sender is done and the queue is quiet
			defer rs.Close()
			var local []sample
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
					now := time.Now()
					at := int64(binary.BigEndian.Uint64(f.Envelope.Content))
					local = append(local, sample{now, time.Duration(now.UnixNano() - at)})
				}
				delivered.Add(1)
				_ = rs.Ack(ctx, f.Envelope.ID)
			}
			mu.Lock()
			deliveries = append(deliveries, local...)
			mu.Unlock()
		})
		senders.Add(1)
		wg.Go(func() { // sender: one send at a time, answered once durable or acked
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
				_, err := ss.Send(ctx, &api.Send{Destination: p.to, Messages: []api.OutgoingMessage{
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
	go progress(runCtx, start, &sent, &delivered)
	senders.Wait()
	close(sendersDone)
	wg.Wait()
	elapsed := time.Since(start)

	res := relayResult{Scenario: "relay", Store: t.storeName(), Pairs: cfg.Pairs, Seconds: cfg.Duration.Seconds(),
		Sent: sent.Load(), Delivered: delivered.Load(), Failed: failed.Load(),
		PerSecond: float64(delivered.Load()) / min(elapsed, cfg.Duration).Seconds()}
	res.SendP50ms, res.SendP99ms, _ = percentiles(sendLat)
	lats := make([]time.Duration, len(deliveries))
	for i, d := range deliveries {
		lats[i] = d.lat
	}
	res.DeliverP50, res.DeliverP99, res.DeliverMax = percentiles(lats)
	res.Series = perSecond(start, deliveries)
	if raw > 0 {
		res.RawStorePerSecond, res.RawRatio = raw, res.PerSecond/raw
	}
	if v, ok := t.counter("hush_envelopes_stored_total"); ok {
		res.Stored = v - stored0
	}
	if v, ok := t.counter("hush_envelopes_acked_unstored_total"); ok {
		res.AckedUnstored = v - unstored0
	}
	printTable(os.Stdout, &res)
	if cfg.JSON != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(cfg.JSON, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if cfg.Plot != "" {
		title := fmt.Sprintf("hush-bench relay, %s, %d pairs", res.Store, res.Pairs)
		if err := plotSeries(cfg.Plot, title, res.Series); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
	}
	return nil
}

// perSecond buckets deliveries by the second of the run they happened in.
func perSecond(start time.Time, ds []sample) []second {
	buckets := map[int][]time.Duration{}
	last := 0
	for _, d := range ds {
		s := int(d.at.Sub(start) / time.Second)
		buckets[s] = append(buckets[s], d.lat)
		last = max(last, s)
	}
	out := make([]second, 0, last+1)
	for s := 0; s <= last && len(ds) > 0; s++ {
		p50, p99, _ := percentiles(buckets[s])
		out = append(out, second{T: s, Delivered: len(buckets[s]), DeliverP50: p50, DeliverP99: p99})
	}
	return out
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
	if r.RawStorePerSecond > 0 {
		fmt.Fprintf(w, "store's own limit: %.0f envelopes/s (insert + delete); relay = %.0f%% of it\n", r.RawStorePerSecond, 100*r.RawRatio)
	}
	if r.Delivered > 0 && (r.Stored > 0 || r.AckedUnstored > 0) {
		fmt.Fprintf(w, "server: %.0f envelopes stored, %.0f acked before they were stored (%.1f%% never touched the store)\n",
			r.Stored, r.AckedUnstored, 100*r.AckedUnstored/float64(r.Delivered))
	}
}
