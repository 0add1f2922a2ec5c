package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the "sqlite" driver, for the storage figures

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
	"github.com/hushmsg/hush/internal/server"
)

// fanoutConfig is the group fan-out scenario's settings.
type fanoutConfig struct {
	Target   targetFlags
	DB       string
	Members  int
	Senders  int
	Queued   int
	Duration time.Duration
	Size     int
	JSON     string
}

// fanout creates one group of Members accounts. First Queued group
// messages are sent while every member is offline, to measure what a
// delivery costs the store; then every member connects, drains and acks,
// and Senders members send group messages one after another for Duration
// while every other member receives and acks them.
func fanout(ctx context.Context, cfg fanoutConfig) error {
	t, err := newTarget(ctx, cfg.Target, cfg.DB, cfg.Members)
	if err != nil {
		return err
	}
	defer t.stop()
	fmt.Fprintf(os.Stderr, "hushd at %s; registering %d members\n", t.url, cfg.Members)
	devs, err := registerDevices(ctx, t.url, cfg.Members)
	if err != nil {
		return err
	}
	ids := make([]string, len(devs))
	for i, d := range devs {
		c, _ := d.Credentials()
		ids[i] = c.AccountID
	}
	g, err := devs[0].CreateGroup(ctx, ids[1:])
	if err != nil {
		return fmt.Errorf("create group: %w", err)
	}
	recipients := func(sender int) []api.GroupRecipient {
		out := make([]api.GroupRecipient, 0, len(ids)-1)
		for i, id := range ids {
			if i != sender {
				out = append(out, api.GroupRecipient{AccountID: id, DeviceID: 1, RegistrationID: 1})
			}
		}
		return out
	}
	content := make([]byte, cfg.Size)
	_, _ = rand.Read(content)

	// What a delivery costs at rest: every member offline.
	before, err := storeBytes(ctx, t)
	if err != nil {
		fmt.Fprintf(os.Stderr, "storage figures unavailable: %v\n", err)
	}
	for range cfg.Queued {
		if _, err := devs[0].GroupSend(ctx, g.GroupID, &api.GroupSend{Type: 4, Content: content, Recipients: recipients(0)}); err != nil {
			return fmt.Errorf("queue group message: %w", err)
		}
	}
	after, err2 := storeBytes(ctx, t)
	perDelivery := 0.0
	if err == nil && err2 == nil && cfg.Queued > 0 {
		perDelivery = float64(after-before) / float64(cfg.Queued*(cfg.Members-1))
		fmt.Fprintf(os.Stderr, "store grew %d bytes for %d queued deliveries: %.0f bytes each (payload %d bytes, stored once per message)\n",
			after-before, cfg.Queued*(cfg.Members-1), perDelivery, cfg.Size)
	}

	// Live fan-out.
	fmt.Fprintf(os.Stderr, "connecting %d members\n", cfg.Members)
	var delivered atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var readers sync.WaitGroup
	drained := make(chan struct{}, cfg.Members)
	for _, d := range devs {
		s, err := d.DialMessages(ctx)
		if err != nil {
			return err
		}
		readers.Go(func() {
			defer s.Close()
			receive(runCtx, s, &delivered, &mu, &lat, drained)
		})
	}
	for range cfg.Members {
		select {
		case <-drained:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	delivered.Store(0)
	mu.Lock()
	lat = lat[:0]
	mu.Unlock()
	fmt.Fprintf(os.Stderr, "backlog drained; %d senders sending for %s\n", cfg.Senders, cfg.Duration)
	var sent atomic.Int64
	sendCtx, stopSending := context.WithTimeout(ctx, cfg.Duration)
	defer stopSending()
	var senders sync.WaitGroup
	start := time.Now()
	for i := range cfg.Senders {
		senders.Go(func() {
			rs := recipients(i)
			msg := make([]byte, cfg.Size)
			for sendCtx.Err() == nil {
				copy(msg, content)
				binary.BigEndian.PutUint64(msg, uint64(time.Now().UnixNano()))
				if _, err := devs[i].GroupSend(sendCtx, g.GroupID, &api.GroupSend{Type: 4, Content: msg, Recipients: rs}); err != nil {
					if sendCtx.Err() == nil {
						fmt.Fprintf(os.Stderr, "group send: %v\n", err)
					}
					return
				}
				sent.Add(1)
			}
		})
	}
	senders.Wait()
	want := sent.Load() * int64(cfg.Members-1)
	for deadline := time.Now().Add(30 * time.Second); delivered.Load() < want && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cancel()
	readers.Wait()
	mu.Lock()
	p50, p99, maxMS := percentiles(lat)
	mu.Unlock()
	return report(os.Stdout, cfg.JSON, result{
		"scenario": "fanout", "store": t.storeName(), "members": cfg.Members, "senders": cfg.Senders,
		"group_messages": sent.Load(), "deliveries": delivered.Load(),
		"deliveries_per_second": float64(delivered.Load()) / elapsed.Seconds(),
		"deliver_p50_ms":        p50, "deliver_p99_ms": p99, "deliver_max_ms": maxMS,
		"bytes_per_delivery": perDelivery, "payload_bytes": cfg.Size,
	}, []string{"scenario", "store", "members", "senders", "group_messages", "deliveries", "deliveries_per_second",
		"deliver_p50_ms", "deliver_p99_ms", "deliver_max_ms", "bytes_per_delivery", "payload_bytes"})
}

// receive acks everything a member gets, says when its backlog is drained,
// and records each live message's latency from the timestamp it carries.
func receive(ctx context.Context, s *client.MessageSocket, delivered *atomic.Int64, mu *sync.Mutex, lat *[]time.Duration, drained chan<- struct{}) {
	acks := acker{s: s}
	for {
		f, err := s.Next(ctx)
		if err != nil {
			return
		}
		switch f.Type {
		case wire.TypeQueueEmpty:
			drained <- struct{}{}
		case wire.TypeEnvelope:
			if f.Envelope.Type == 4 && len(f.Envelope.Content) >= 8 {
				sentAt := time.Unix(0, int64(binary.BigEndian.Uint64(f.Envelope.Content)))
				d := time.Since(sentAt)
				mu.Lock()
				*lat = append(*lat, d)
				mu.Unlock()
				delivered.Add(1)
			}
			if err := acks.add(ctx, f.Envelope.ID); err != nil {
				return
			}
		}
	}
}

// storeBytes is the size of the envelope and payload tables with their
// indexes, on the target's backend.
func storeBytes(ctx context.Context, t *target) (int64, error) {
	if t.db != "" {
		conn, err := pgx.Connect(ctx, t.db)
		if err != nil {
			return 0, err
		}
		defer conn.Close(ctx)
		var n int64
		err = conn.QueryRow(ctx, `SELECT pg_total_relation_size('envelopes') + pg_total_relation_size('payloads')`).Scan(&n)
		return n, err
	}
	if t.dataDir == "" {
		return 0, errors.New("an external SQLite hushd needs --data")
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.dataDir, server.DBFile)+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.QueryRowContext(ctx, `SELECT sum(pgsize) FROM dbstat WHERE name IN
		('envelopes', 'payloads', 'envelopes_mailbox', 'envelopes_id', 'envelopes_expires', 'sqlite_autoindex_payloads_1')`).Scan(&n)
	return n, err
}
