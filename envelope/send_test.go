package envelope

import (
	"math/rand/v2"
	"testing"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
)

// TestNamesExactlyAgreesWithMatchDevices: the allocation-free check of a
// send's devices says yes exactly when matchDevices finds nothing wrong,
// over random device lists and sends (missing, extra, repeated and
// re-registered devices, notes to self, sync copies).
func TestNamesExactlyAgreesWithMatchDevices(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sender := auth.Device{AccountID: "me", DeviceID: 1}
	list := func() []Recipient {
		var rs []Recipient
		for d := uint32(1); d <= 4; d++ {
			if rng.IntN(3) > 0 {
				rs = append(rs, Recipient{DeviceID: d, RegistrationID: 100 + d})
			}
		}
		return rs
	}
	agreed, yes := 0, 0
	for range 20000 {
		dest := "them"
		if rng.IntN(5) == 0 {
			dest = "me"
		}
		accts := orderedAccounts(dest, sender.AccountID)
		var lists [2][]Recipient
		for i, a := range accts {
			lists[i] = list()
			if a == sender.AccountID && rng.IntN(10) > 0 {
				lists[i] = append(lists[i], Recipient{DeviceID: sender.DeviceID, RegistrationID: 101})
			}
		}
		// A send that names the right devices, then spoilt at random.
		var msgs []api.OutgoingMessage
		for i, a := range accts {
			for _, r := range lists[i] {
				if a == sender.AccountID && r.DeviceID == sender.DeviceID {
					continue
				}
				m := api.OutgoingMessage{DeviceID: r.DeviceID, RegistrationID: r.RegistrationID}
				if a != dest || rng.IntN(2) == 0 {
					m.AccountID = a
				}
				msgs = append(msgs, m)
			}
		}
		switch rng.IntN(6) {
		case 0: // drop one
			if len(msgs) > 0 {
				i := rng.IntN(len(msgs))
				msgs = append(msgs[:i], msgs[i+1:]...)
			}
		case 1: // repeat one instead of another
			if len(msgs) > 1 {
				msgs[0] = msgs[1]
			}
		case 2: // a stale registration id
			if len(msgs) > 0 {
				msgs[rng.IntN(len(msgs))].RegistrationID++
			}
		case 3: // an extra device, maybe the sender's own
			msgs = append(msgs, api.OutgoingMessage{AccountID: accts[rng.IntN(len(accts))], DeviceID: uint32(1 + rng.IntN(5)), RegistrationID: 101})
		}
		rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })

		want := make(map[string]map[uint32]uint32, 2)
		for i, a := range accts {
			m := map[uint32]uint32{}
			for _, r := range lists[i] {
				if a != sender.AccountID || r.DeviceID != sender.DeviceID {
					m[r.DeviceID] = r.RegistrationID
				}
			}
			want[a] = m
		}
		fast := namesExactly(lists, accts, sender, dest, msgs)
		slow := matchDevices(want, sender, dest, msgs) == nil
		if fast != slow {
			t.Fatalf("dest %s lists %v msgs %+v: namesExactly %v, matchDevices ok %v", dest, lists, msgs, fast, slow)
		}
		agreed++
		if fast {
			yes++
		}
	}
	if yes == 0 || yes == agreed {
		t.Fatalf("%d of %d sends named their devices right: the test does not cover both answers", yes, agreed)
	}
}
