package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
	"github.com/hushmsg/hush/internal/devkeys"
)

// result is one scenario's figures, printed as a table and written as JSON.
type result map[string]any

func report(w io.Writer, jsonFile string, r result, order []string) error {
	for _, k := range order {
		fmt.Fprintf(w, "%-22s %v\n", k, r[k])
	}
	if jsonFile == "" {
		return nil
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	return os.WriteFile(jsonFile, append(b, '\n'), 0o644)
}

// backlog queues n envelopes for one offline device, then connects it and
// measures how fast the backlog drains (delivered and acked).
func backlog(ctx context.Context, tf targetFlags, db string, n, size int, jsonFile string) error {
	t, err := newTarget(ctx, tf, db, 2)
	if err != nil {
		return err
	}
	defer t.stop()
	devs, err := registerDevices(ctx, t.url, 2)
	if err != nil {
		return err
	}
	from, to := devs[0], devs[1]
	toCreds, _ := to.Credentials()
	fmt.Fprintf(os.Stderr, "queueing %d envelopes\n", n)
	const senders = 32
	var next atomic.Int64
	var wg sync.WaitGroup
	payload := make([]byte, size)
	_, _ = rand.Read(payload)
	qStart := time.Now()
	errs := make(chan error, senders)
	for range senders {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := from.Send(ctx, &api.Send{Destination: toCreds.AccountID, Messages: []api.OutgoingMessage{
					{DeviceID: 1, RegistrationID: 1, Type: 2, Content: payload}}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	queued := time.Since(qStart)
	fmt.Fprintf(os.Stderr, "queued in %s; draining\n", queued.Round(time.Millisecond))

	dStart := time.Now()
	s, err := to.DialMessages(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	got := 0
	acks := acker{s: s}
	for got < n {
		f, err := s.Next(ctx)
		if err != nil {
			return err
		}
		if f.Type == wire.TypeEnvelope {
			got++
			if err := acks.add(ctx, f.Envelope.ID); err != nil {
				return err
			}
		}
	}
	drained := time.Since(dStart)
	return report(os.Stdout, jsonFile, result{
		"scenario": "backlog", "store": t.storeName(), "envelopes": n,
		"queue_per_second": float64(n) / queued.Seconds(),
		"drain_per_second": float64(n) / drained.Seconds(),
		"drain_seconds":    drained.Seconds(),
	}, []string{"scenario", "store", "envelopes", "queue_per_second", "drain_per_second", "drain_seconds"})
}

// acker collects envelope ids and acks them in one frame once no other
// frame waits (or 256 have gathered), as a client that stores what arrives
// in batches would.
type acker struct {
	s   *client.MessageSocket
	ids []string
}

func (a *acker) add(ctx context.Context, id string) error {
	a.ids = append(a.ids, id)
	if a.s.Queued() > 0 && len(a.ids) < 256 {
		return nil
	}
	err := a.s.Ack(ctx, a.ids...)
	a.ids = a.ids[:0]
	return err
}

// bundles uploads 100 one-time prekeys to each of targets devices, then
// has fetchers claim bundles concurrently for d.
func bundles(ctx context.Context, tf targetFlags, db string, targets, fetchers int, d time.Duration, jsonFile string) error {
	tg, err := newTarget(ctx, tf, db, targets+fetchers)
	if err != nil {
		return err
	}
	defer tg.stop()
	devs, err := registerDevices(ctx, tg.url, targets+fetchers)
	if err != nil {
		return err
	}
	var ids []string
	for _, t := range devs[:targets] {
		var pks []api.PreKey
		for i := range api.MaxPreKeysPerUpload {
			k, err := devkeys.ECKey()
			if err != nil {
				return err
			}
			pks = append(pks, api.PreKey{KeyID: uint32(i + 1), PublicKey: k})
		}
		if err := t.SetKeys(ctx, &api.SetKeys{PreKeys: pks}); err != nil {
			return err
		}
		c, _ := t.Credentials()
		ids = append(ids, c.AccountID)
	}
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var claims, withKey, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i, f := range devs[targets:] {
		wg.Go(func() {
			for j := i; runCtx.Err() == nil; j++ {
				b, err := f.Bundle(runCtx, ids[j%len(ids)], 0)
				if err != nil {
					if runCtx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				claims.Add(1)
				if b.Devices[0].PreKey != nil {
					withKey.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	return report(os.Stdout, jsonFile, result{
		"scenario": "bundles", "store": tg.storeName(), "fetchers": fetchers, "targets": targets,
		"claims": claims.Load(), "claims_with_prekey": withKey.Load(), "failed": failed.Load(),
		"claims_per_second": float64(claims.Load()) / elapsed.Seconds(),
	}, []string{"scenario", "store", "fetchers", "targets", "claims", "claims_with_prekey", "failed", "claims_per_second"})
}
