package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
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

// claimer claims bundles as the client does (GET /v1/keys/{account}/*, as
// a device), but does not decode them: decoding the keys' base64 (the PQ
// ones are 1.6 KB each) was 30% of the load generator's CPU, on the two
// cores it shares with hushd. It only reads whether the first device's
// bundle came with a one-time prekey. The bundle itself is checked by the
// keys and client tests.
type claimer struct {
	base  string
	creds client.Credentials
	buf   bytes.Buffer
}

// oneTimeKey is how a one-time prekey starts in a bundle ("signed_prekey"
// and "pq_prekey" have another byte before "prekey").
var oneTimeKey = []byte(`"prekey":{`)

func (c *claimer) claim(ctx context.Context, account string) (withKey bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/keys/"+url.PathEscape(account)+"/*", nil)
	if err != nil {
		return false, err
	}
	req.SetBasicAuth(c.creds.User(), c.creds.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	c.buf.Reset()
	if _, err := c.buf.ReadFrom(resp.Body); err != nil {
		return false, err
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("bundle: %s", resp.Status)
	}
	return bytes.Contains(c.buf.Bytes(), oneTimeKey), nil
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
		cr, _ := f.Credentials()
		c := claimer{base: tg.url, creds: cr}
		wg.Go(func() {
			for j := i; runCtx.Err() == nil; j++ {
				key, err := c.claim(runCtx, ids[j%len(ids)])
				if err != nil {
					if runCtx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				claims.Add(1)
				if key {
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
