package gdpr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// fuzzChain builds n sealed entries from data, as AppendAudit would:
// consecutive sequence numbers from first, each pointing at the hash
// before it (prev for the first, which may be pruned away).
func fuzzChain(data []byte, n int, first, at int64, prev []byte) []Entry {
	take := func() string {
		if len(data) == 0 {
			return ""
		}
		k := min(int(data[0]), len(data)-1)
		s := string(data[1 : 1+k])
		data = data[1+k:]
		return s
	}
	chain := make([]Entry, n)
	for i := range chain {
		e := Entry{Seq: first + int64(i), At: time.UnixMilli(at + int64(i)*1000).UTC(), Prev: prev,
			Actor: take(), Action: take(), Subject: take(), Detail: take()}
		e.Hash = seal(&e)
		chain[i], prev = e, e.Hash
	}
	return chain
}

// verifyChain checks entries as Verify does: from the first one there is,
// whose own predecessor may be gone. It returns how many verified.
func verifyChain(chain []Entry) (int, error) {
	v := verifier{seq: chain[0].Seq - 1, prev: chain[0].Prev}
	for i := range chain {
		if err := v.next(&chain[i]); err != nil {
			return i, err
		}
	}
	return len(chain), nil
}

func cloneChain(chain []Entry) []Entry {
	out := make([]Entry, len(chain))
	for i, e := range chain {
		e.Prev, e.Hash = bytes.Clone(e.Prev), bytes.Clone(e.Hash)
		out[i] = e
	}
	return out
}

// flipByte changes byte at (mod its length) of b by x (made non-zero);
// ok is false for an empty b.
func flipByte(b []byte, at uint16, x byte) ([]byte, bool) {
	if len(b) == 0 {
		return b, false
	}
	if x == 0 {
		x = 1
	}
	b = bytes.Clone(b)
	b[int(at)%len(b)] ^= x
	return b, true
}

// FuzzAuditChain: any entries, sealed and chained as the store appends
// them, verify; a change of any one byte of any one entry (a field, its
// sequence number, its time, its link or its hash) breaks the chain at
// exactly that entry, with an error that repeats none of its content; an
// entry rewritten and sealed anew breaks the next one's link, and one
// taken out breaks the sequence; and moving a byte from one field to the
// next changes the seal.
func FuzzAuditChain(f *testing.F) {
	f.Add([]byte("\x05admin\x05erase\x0bpseudonym-1\x0a{\"rows\":3}"), uint8(3), int64(1), int64(1_700_000_000_000), []byte(nil), uint16(0), uint8(0), byte(1))
	f.Add([]byte("\x06system\x0dretention.run\x00\x02{}"), uint8(1), int64(41), int64(0), bytes.Repeat([]byte{7}, 32), uint16(5), uint8(1), byte(0x80))
	f.Add([]byte("\x01a\x01b\x01c\x01d\x02ab\x00\x01c\x01d"), uint8(4), int64(1<<40), int64(-1), []byte{1}, uint16(0xffff), uint8(7), byte(0xff))
	f.Add([]byte{}, uint8(2), int64(9), int64(253402300799999), []byte(nil), uint16(3), uint8(6), byte(2))
	f.Fuzz(func(t *testing.T, data []byte, n uint8, first, at int64, prev []byte, where uint16, field uint8, x byte) {
		// Sequence numbers start at 1 and stay far from overflow; times
		// are what a clock gives, within year ±10000.
		first = 1 + first&(1<<40-1)
		at %= 253402300800000
		chain := fuzzChain(data, 1+int(n%8), first, at, prev)
		for i := range chain {
			if len(chain[i].Hash) != 32 || !bytes.Equal(chain[i].Hash, seal(&chain[i])) {
				t.Fatalf("entry %d: seal is not a stable SHA-256", i)
			}
		}
		if k, err := verifyChain(chain); err != nil || k != len(chain) {
			t.Fatalf("a sound chain of %d: %d verified, %v", len(chain), k, err)
		}

		i := int(where) % len(chain)
		// An entry rewritten and sealed anew breaks the link of the one
		// after it (only the newest entry has no such witness), and one
		// taken out breaks the sequence where it was.
		if i+1 < len(chain) {
			forged := cloneChain(chain)
			forged[i].Detail += "!"
			forged[i].Hash = seal(&forged[i])
			if k, err := verifyChain(forged); !errors.As(err, new(*ChainError)) || k != i+1 {
				t.Fatalf("entry %d resealed: %d verified, %v", i, k, err)
			}
		}
		if i > 0 && i+1 < len(chain) {
			cut := append(cloneChain(chain[:i]), chain[i+1:]...)
			if k, err := verifyChain(cut); !errors.As(err, new(*ChainError)) || k != i {
				t.Fatalf("entry %d of %d taken out: %d verified, %v", i, len(chain), k, err)
			}
		}

		// Change one byte of one entry.
		bad := cloneChain(chain)
		e := &bad[i]
		var ok bool
		switch field % 8 {
		case 0:
			e.Prev, ok = flipByte(e.Prev, where>>3, x)
		case 1:
			e.Hash, ok = flipByte(e.Hash, where>>3, x)
		case 2:
			var b []byte
			b, ok = flipByte([]byte(e.Actor), where>>3, x)
			e.Actor = string(b)
		case 3:
			var b []byte
			b, ok = flipByte([]byte(e.Action), where>>3, x)
			e.Action = string(b)
		case 4:
			var b []byte
			b, ok = flipByte([]byte(e.Subject), where>>3, x)
			e.Subject = string(b)
		case 5:
			var b []byte
			b, ok = flipByte([]byte(e.Detail), where>>3, x)
			e.Detail = string(b)
		case 6:
			b, _ := flipByte(binary.BigEndian.AppendUint64(nil, uint64(e.Seq)), where>>3, x)
			e.Seq, ok = int64(binary.BigEndian.Uint64(b)), true
		case 7:
			b, _ := flipByte(binary.BigEndian.AppendUint64(nil, uint64(e.At.UnixMilli())), where>>3, x)
			e.At, ok = time.UnixMilli(int64(binary.BigEndian.Uint64(b))), true
		}
		if !ok {
			return // an empty field has no byte to change
		}
		k, err := verifyChain(bad)
		var ce *ChainError
		if !errors.As(err, &ce) {
			t.Fatalf("entry %d field %d changed: %d verified, err %v", i, field%8, k, err)
		}
		if k != i || ce.Seq != e.Seq {
			t.Fatalf("entry %d (seq %d) field %d changed: broke after %d verified, at seq %d (%v)", i, e.Seq, field%8, k, ce.Seq, err)
		}
		msg := err.Error()
		for _, s := range []string{e.Actor, e.Action, e.Subject, e.Detail, chain[i].Detail, chain[i].Subject} {
			if len(s) >= 8 && strings.Contains(msg, s) {
				t.Fatalf("chain error %q repeats entry content %q", msg, s)
			}
		}

		// Fields are length-prefixed: the same bytes split otherwise seal
		// otherwise.
		moved := chain[0]
		if moved.Actor != "" {
			moved.Actor, moved.Action = moved.Actor[:len(moved.Actor)-1], moved.Actor[len(moved.Actor)-1:]+moved.Action
			if bytes.Equal(seal(&moved), chain[0].Hash) {
				t.Fatalf("%+v and %+v seal alike", chain[0], moved)
			}
		}
		moved = chain[0]
		if moved.Subject != "" {
			moved.Subject, moved.Detail = moved.Subject[:len(moved.Subject)-1], moved.Subject[len(moved.Subject)-1:]+moved.Detail
			if bytes.Equal(seal(&moved), chain[0].Hash) {
				t.Fatalf("%+v and %+v seal alike", chain[0], moved)
			}
		}
	})
}
