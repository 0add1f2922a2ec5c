package sqlite

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/internal/api"
)

// btreePage lays out a b-tree page of size bytes: its header at hdr
// (100 on page 1), cells of 16 bytes of 0xCC packed against the end, a
// content area that starts gap bytes before the first cell, and a free
// block of 12 bytes of 0xFF between the cells when free is set. Every
// byte not part of the header, a cell pointer, a cell or the free block's
// header is 0xEE, as a rebuilt page leaves it.
type btreePage struct {
	size, hdr int
	kind      byte
	cells     int
	free      bool
}

func (p btreePage) build() []byte {
	page := bytes.Repeat([]byte{0xEE}, p.size)
	h := page[p.hdr:]
	h[0] = p.kind
	hdrSize := 8
	if p.kind == 0x02 || p.kind == 0x05 {
		hdrSize = 12
		binary.BigEndian.PutUint32(h[8:], 77) // right child
	}
	at := p.size
	for i := range p.cells {
		if p.free && i == 1 {
			at -= 12
			binary.BigEndian.PutUint16(h[1:], uint16(at))
			binary.BigEndian.PutUint16(page[at:], 0)
			binary.BigEndian.PutUint16(page[at+2:], 12)
			copy(page[at+4:at+12], bytes.Repeat([]byte{0xFF}, 8))
		}
		at -= 16
		copy(page[at:at+16], bytes.Repeat([]byte{0xCC}, 16))
		binary.BigEndian.PutUint16(h[hdrSize+2*i:], uint16(at))
	}
	if !p.free {
		binary.BigEndian.PutUint16(h[1:], 0)
	}
	binary.BigEndian.PutUint16(h[3:], uint16(p.cells))
	binary.BigEndian.PutUint16(h[5:], uint16(at))
	h[7] = 0
	if p.hdr == 100 {
		copy(page, "SQLite format 3\x00")
	}
	return page
}

func TestZeroUnused(t *testing.T) {
	for _, tc := range []struct {
		name string
		page btreePage
		pgno int64
	}{
		{"table leaf", btreePage{size: 4096, kind: 0x0d, cells: 3}, 7},
		{"index leaf with a free block", btreePage{size: 4096, kind: 0x0a, cells: 3, free: true}, 7},
		{"table interior", btreePage{size: 1024, kind: 0x05, cells: 2}, 7},
		{"index interior with a free block", btreePage{size: 1024, kind: 0x02, cells: 4, free: true}, 7},
		{"page 1", btreePage{size: 4096, hdr: 100, kind: 0x0d, cells: 5}, 1},
		{"full page", btreePage{size: 512, kind: 0x0d, cells: 28}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := tc.page.build()
			orig := bytes.Clone(page)
			changed, err := zeroUnused(page, tc.pgno)
			if err != nil {
				t.Fatal(err)
			}
			if want := bytes.Contains(orig[tc.page.hdr:], []byte{0xEE}) || tc.page.free; changed != want {
				t.Errorf("changed %v, want %v", changed, want)
			}
			// What the page holds is still there; what was left over is not.
			for i := range page {
				switch {
				case orig[i] == 0xEE && i >= tc.page.hdr+8:
					if page[i] != 0 {
						t.Fatalf("byte %d left: %#x", i, page[i])
					}
				case orig[i] == 0xFF:
					if page[i] != 0 {
						t.Fatalf("free block byte %d left: %#x", i, page[i])
					}
				case page[i] != orig[i]:
					t.Fatalf("byte %d changed: %#x to %#x", i, orig[i], page[i])
				}
			}
			if changed, err := zeroUnused(page, tc.pgno); err != nil || changed {
				t.Errorf("second pass: changed %v, %v", changed, err)
			}
		})
	}
}

func TestZeroUnusedRefusesInconsistentPages(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(p []byte)
	}{
		{"not a b-tree page", func(p []byte) { p[0] = 0x00 }},
		{"content area before the pointers", func(p []byte) { binary.BigEndian.PutUint16(p[5:], 10) }},
		{"content area past the end", func(p []byte) { binary.BigEndian.PutUint16(p[5:], 5000) }},
		{"cell before the content area", func(p []byte) { binary.BigEndian.PutUint16(p[8:], 100) }},
		{"cell past the end", func(p []byte) { binary.BigEndian.PutUint16(p[10:], 4096) }},
		{"more cells than pointers fit", func(p []byte) { binary.BigEndian.PutUint16(p[3:], 3000) }},
		{"free block before the content area", func(p []byte) { binary.BigEndian.PutUint16(p[1:], 40) }},
		{"free block too small", func(p []byte) { binary.BigEndian.PutUint16(p[int(binary.BigEndian.Uint16(p[1:]))+2:], 3) }},
		{"free block past the end", func(p []byte) { binary.BigEndian.PutUint16(p[int(binary.BigEndian.Uint16(p[1:]))+2:], 2000) }},
		{"free blocks in a loop", func(p []byte) {
			fb := int(binary.BigEndian.Uint16(p[1:]))
			binary.BigEndian.PutUint16(p[fb:], uint16(fb))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := btreePage{size: 4096, kind: 0x0d, cells: 3, free: true}.build()
			tc.spoil(page)
			orig := bytes.Clone(page)
			if _, err := zeroUnused(page, 9); err == nil {
				t.Fatal("no error")
			}
			if !bytes.Equal(page, orig) {
				t.Error("page changed")
			}
		})
	}
}

// FuzzZeroUnused: whatever the bytes, zeroUnused does not panic, leaves a
// page it refuses as it was, only ever turns bytes to zero, keeps the
// header and cell pointers, and finds nothing left on a second pass.
func FuzzZeroUnused(f *testing.F) {
	f.Add(btreePage{size: 512, kind: 0x0d, cells: 3, free: true}.build(), false)
	f.Add(btreePage{size: 512, hdr: 100, kind: 0x02, cells: 2}.build(), true)
	f.Fuzz(func(t *testing.T, page []byte, first bool) {
		pgno := int64(2)
		if first {
			pgno = 1
		}
		orig := bytes.Clone(page)
		_, err := zeroUnused(page, pgno)
		if err != nil {
			if !bytes.Equal(page, orig) {
				t.Fatal("refused page changed")
			}
			return
		}
		for i := range page {
			if page[i] != orig[i] && page[i] != 0 {
				t.Fatalf("byte %d set to %#x", i, page[i])
			}
		}
		hdr := 0
		if first {
			hdr = 100
		}
		cells := int(binary.BigEndian.Uint16(orig[hdr+3:]))
		keep := hdr + 8 + 2*cells
		if orig[hdr] == 0x02 || orig[hdr] == 0x05 {
			keep += 4
		}
		if !bytes.Equal(page[:keep], orig[:keep]) {
			t.Fatal("header or cell pointers changed")
		}
		if changed, err := zeroUnused(page, pgno); changed || err != nil {
			t.Fatalf("second pass: changed %v, %v", changed, err)
		}
	})
}

// TestScrubRewritesOnlyWhatIsLeft: after inserts and deletes deep enough
// to rebalance, the first scrub rewrites pages, a second finds nothing,
// and the rows are all still there.
func TestScrubRewritesOnlyWhatIsLeft(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "hush.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ids []string
	for i := range 200 {
		number := fmt.Sprintf("+1415%07d", i)
		reg, err := s.Register(ctx, devices.Registration{Number: number, NewID: uuid.NewString(), IdentityKey: make([]byte, 33),
			Primary: devices.NewDevice{PasswordHash: make([]byte, 32), RegistrationID: 1, Name: "name" + number, Created: time.Now(),
				SignedPreKey:       api.SignedPreKey{KeyID: 1, PublicKey: make([]byte, 33), Signature: make([]byte, 64)},
				PQLastResortPreKey: api.SignedPreKey{KeyID: 2, PublicKey: make([]byte, 1569), Signature: make([]byte, 64)}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, reg.AccountID)
	}
	for _, id := range ids[:100] {
		if _, err := s.EraseAccount(ctx, id, func(_, text string) string { return text }); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.scrub(ctx)
	if err != nil || n == 0 {
		t.Fatalf("first scrub: %d pages, %v", n, err)
	}
	if n, err := s.scrub(ctx); err != nil || n != 0 {
		t.Fatalf("second scrub: %d pages, %v", n, err)
	}
	var check string
	if err := s.w.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity check: %q, %v", check, err)
	}
	for i, id := range ids {
		_, err := s.Recipients(ctx, id)
		if gone := i < 100; (err != nil) != gone {
			t.Errorf("account %d (erased: %v): %v", i, gone, err)
		}
	}
}
