package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/keys"
)

func testClaimStorm(t *testing.T, s Store) { ClaimStorm(t, s) }

// ClaimStorm has many claims run at once against one account of three
// devices: of every device, of one device, of all but device 1, mixed
// with claims of an unknown account and of an unknown device (which must
// not disturb the others, whatever batch they share). No one-time key may
// be handed out twice; while a device has keys of a kind, every claim of
// it gets one; once its PQ keys are gone it gets the last-resort key; and
// what is left is what was not handed out. stores are views of one
// database (nodes sharing it): the claims are spread over them.
func ClaimStorm(t *testing.T, stores ...Store) {
	ctx := context.Background()
	const devicesN, ecN, pqN, claimers = 3, 12, 5, 64
	id := register(t, stores[0], devicesN)
	for d := uint32(1); d <= devicesN; d++ {
		set := &api.SetKeys{}
		for k := range uint32(ecN) {
			set.PreKeys = append(set.PreKeys, api.PreKey{KeyID: 100*d + k, PublicKey: random(33)})
		}
		for k := range uint32(pqN) {
			set.PQPreKeys = append(set.PQPreKeys, signed(1000*d+k))
		}
		check(t, stores[0].SetKeys(ctx, id, d, set))
	}

	type ask struct {
		account        string
		device, except uint32
		missing        bool // ErrNotFound expected
	}
	asks := make([]ask, claimers)
	claimsOf := map[uint32]int{} // device -> claims that include it
	for i := range asks {
		switch i % 5 {
		case 0:
			asks[i] = ask{account: id}
		case 1:
			asks[i] = ask{account: id, device: uint32(1 + i%devicesN)}
		case 2:
			asks[i] = ask{account: id, except: 1}
		case 3:
			asks[i] = ask{account: uuid.NewString(), missing: true}
		case 4:
			asks[i] = ask{account: id, device: 9, missing: true}
		}
		for d := uint32(1); d <= devicesN; d++ {
			a := asks[i]
			if !a.missing && (a.device == 0 || a.device == d) && a.except != d {
				claimsOf[d]++
			}
		}
	}

	type handed struct {
		device uint32
		kind   string
		key    uint32
	}
	var mu sync.Mutex
	seen := map[handed]int{}
	var wg sync.WaitGroup
	for i, a := range asks {
		s := stores[i%len(stores)]
		wg.Go(func() {
			cl, err := s.ClaimBundles(ctx, a.account, a.device, a.except)
			if a.missing {
				if !errors.Is(err, keys.ErrNotFound) {
					t.Errorf("claim %d (%+v): err = %v, want not found", i, a, err)
				}
				return
			}
			if err != nil {
				t.Errorf("claim %d (%+v): %v", i, a, err)
				return
			}
			if err := checkClaim(cl, id, a.device, a.except, devicesN, ecN, pqN); err != nil {
				t.Errorf("claim %d (%+v): %v", i, a, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, d := range cl.Bundle.Devices {
				if d.PreKey != nil {
					seen[handed{d.DeviceID, "ec", d.PreKey.KeyID}]++
				}
				if !d.PQLastResort {
					seen[handed{d.DeviceID, "pq", d.PQPreKey.KeyID}]++
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// A claim whose caller has given up takes nothing.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := stores[0].ClaimBundles(gone, id, 0, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("claim with an ended context: err = %v", err)
	}
	given := map[handed]int{} // (device, kind) -> keys handed out
	for h, n := range seen {
		if n != 1 {
			t.Errorf("key %s %d of device %d handed out %d times", h.kind, h.key, h.device, n)
		}
		given[handed{device: h.device, kind: h.kind}]++
	}
	for d := uint32(1); d <= devicesN; d++ {
		ec, pq := given[handed{device: d, kind: "ec"}], given[handed{device: d, kind: "pq"}]
		equal(t, fmt.Sprintf("device %d: one-time keys handed out", d), ec, min(claimsOf[d], ecN))
		equal(t, fmt.Sprintf("device %d: PQ one-time keys handed out", d), pq, min(claimsOf[d], pqN))
		left, err := stores[0].CountPreKeys(ctx, id, d)
		check(t, err)
		equal(t, fmt.Sprintf("device %d: one-time keys left", d), left.PreKeys, ecN-ec)
		equal(t, fmt.Sprintf("device %d: PQ one-time keys left", d), left.PQPreKeys, pqN-pq)
	}
}

// checkClaim checks what one claim can be checked for alone.
func checkClaim(cl *keys.Claim, account string, device, except uint32, devicesN, ecN, pqN int) error {
	if cl.Bundle.AccountID != account {
		return fmt.Errorf("bundle of account %s", cl.Bundle.AccountID)
	}
	want := devicesN
	switch {
	case device != 0:
		want = 1
	case except != 0:
		want = devicesN - 1
	}
	if len(cl.Bundle.Devices) != want || len(cl.Left) != want {
		return fmt.Errorf("%d devices, %d counts, want %d", len(cl.Bundle.Devices), len(cl.Left), want)
	}
	for i, d := range cl.Bundle.Devices {
		switch {
		case device != 0 && d.DeviceID != device, d.DeviceID == except:
			return fmt.Errorf("bundle of device %d", d.DeviceID)
		case i > 0 && d.DeviceID <= cl.Bundle.Devices[i-1].DeviceID:
			return errors.New("devices out of order")
		case d.RegistrationID != d.DeviceID || d.SignedPreKey.KeyID != 1:
			return fmt.Errorf("device %d: registration id %d, signed prekey %d", d.DeviceID, d.RegistrationID, d.SignedPreKey.KeyID)
		case d.PreKey != nil && d.PreKey.KeyID/100 != d.DeviceID:
			return fmt.Errorf("device %d got another device's key %d", d.DeviceID, d.PreKey.KeyID)
		case d.PQLastResort && d.PQPreKey.KeyID != 2:
			return fmt.Errorf("device %d: last resort key %d", d.DeviceID, d.PQPreKey.KeyID)
		case !d.PQLastResort && d.PQPreKey.KeyID/1000 != d.DeviceID:
			return fmt.Errorf("device %d got another device's PQ key %d", d.DeviceID, d.PQPreKey.KeyID)
		case len(d.PQPreKey.Signature) == 0:
			return fmt.Errorf("device %d: PQ key without its signature", d.DeviceID)
		}
		l := cl.Left[i]
		// Left counts what this claim did not take (and, on another
		// node, may include keys another claim is taking at that moment).
		if l.PreKeys < 0 || l.PQPreKeys < 0 ||
			d.PreKey != nil && l.PreKeys >= ecN || !d.PQLastResort && l.PQPreKeys >= pqN {
			return fmt.Errorf("device %d: %+v left after handing out a key %v, a PQ key %v", d.DeviceID, l, d.PreKey != nil, !d.PQLastResort)
		}
	}
	return nil
}

// testConcurrentCredentials: many credential reads at once, of several
// devices and of devices that do not exist, each get their own device's
// credential (however a backend groups them).
func testConcurrentCredentials(t *testing.T, s Store) {
	ctx := context.Background()
	type dev struct {
		account string
		device  uint32
	}
	hashes := map[dev][]byte{}
	for range 3 {
		id := Account(t, s)
		for d := uint32(2); d <= 3; d++ {
			nd := newDevice(d)
			got, err := s.AddDevice(ctx, id, nd, 10)
			check(t, err)
			hashes[dev{id, got}] = nd.PasswordHash
		}
	}
	var asks []dev
	for d := range hashes {
		asks = append(asks, d, dev{d.account, d.device + 10}, dev{uuid.NewString(), d.device})
	}
	var wg sync.WaitGroup
	for round := range 8 {
		for i, a := range asks {
			wg.Go(func() {
				c, err := s.Credential(ctx, a.account, a.device)
				want, known := hashes[a]
				switch {
				case !known && !errors.Is(err, devices.ErrNotFound):
					t.Errorf("round %d, read %d: unknown device %v: err = %v", round, i, a, err)
				case known && err != nil:
					t.Errorf("round %d, read %d: device %v: %v", round, i, a, err)
				case known && string(c.PasswordHash) != string(want):
					t.Errorf("round %d, read %d: device %v got another device's credential", round, i, a)
				}
			})
		}
	}
	wg.Wait()
}
