package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/sqlite"
)

// TestErasedKeysLeaveNoCopies erases accounts spread over tables deep
// enough to have interior pages, purges, and reads the file as bytes:
// no id, number or device name of an erased account may be left, not
// even as a stale copy that a rebalance left in a page's unused space
// (secure_delete zeroes only the live copy when a cell is deleted). Which
// page holds such a copy depends on the random ids, so the needles alone
// find it in some runs only; every run checks that the unused space of
// every b-tree page is zero after Purge, which is where copies hide.
func TestErasedKeysLeaveNoCopies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hush.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const accounts, every = 600, 6
	var ids, numbers []string
	for i := range accounts {
		number := fmt.Sprintf("+1415%07d", i)
		d := devices.NewDevice{PasswordHash: make([]byte, 32), RegistrationID: 1, Name: "name" + number,
			SignedPreKey:       api.SignedPreKey{KeyID: 1, PublicKey: make([]byte, 33), Signature: make([]byte, 64)},
			PQLastResortPreKey: api.SignedPreKey{KeyID: 2, PublicKey: make([]byte, 1569), Signature: make([]byte, 64)}, Created: time.Now()}
		reg, err := s.Register(ctx, devices.Registration{Number: number, NewID: uuid.NewString(), IdentityKey: make([]byte, 33), Primary: d})
		if err != nil {
			t.Fatal(err)
		}
		id := reg.AccountID
		ids, numbers = append(ids, id), append(numbers, number)
	}
	keep := func(_, text string) string { return text }
	for i := 0; i < accounts; i += every {
		now := time.Now()
		if _, err := s.BeginErasure(ctx, ids[i], "subj", now, now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.EraseAccount(ctx, ids[i], keep); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	var files []byte
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if f == path+"-wal" && len(b) > 0 {
			t.Errorf("write-ahead log holds %d bytes after Purge", len(b))
		}
		files = append(files, b...)
	}
	checkUnusedSpaceZero(t, path)
	for i := range accounts {
		erased := i%every == 0
		for _, needle := range []string{ids[i], numbers[i], "name" + numbers[i]} {
			if bytes.Contains(files, []byte(needle)) == erased {
				t.Errorf("account %d (erased: %v): %s found: %v", i, erased, needle, erased)
			}
		}
	}
}

// checkUnusedSpaceZero reads the database file at path (its write-ahead
// log checkpointed) and fails the test for every b-tree page whose
// unallocated space (between the cell pointer array and the cell content
// area) or free blocks hold a byte other than zero; dbstat names the
// b-tree pages. It also runs SQLite's integrity check.
func checkUnusedSpaceZero(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pageSize int
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	var integrity string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity check: %q, %v", integrity, err)
	}
	rows, err := db.Query(`SELECT name, pageno FROM dbstat WHERE pagetype IN ('internal', 'leaf')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for rows.Next() {
		var name string
		var pgno int
		if err := rows.Scan(&name, &pgno); err != nil {
			t.Fatal(err)
		}
		page := file[(pgno-1)*pageSize : pgno*pageSize]
		h := page
		if pgno == 1 {
			h = page[100:]
		}
		u16 := func(b []byte) int { return int(b[0])<<8 | int(b[1]) }
		size := 8
		if h[0] == 0x02 || h[0] == 0x05 {
			size = 12
		}
		start := len(page) - len(h) + size + 2*u16(h[3:])
		end := u16(h[5:])
		if end == 0 {
			end = 65536
		}
		unused := [][2]int{{start, end}}
		for fb := u16(h[1:]); fb != 0; fb = u16(page[fb:]) {
			unused = append(unused, [2]int{fb + 4, fb + u16(page[fb+2:])})
		}
	spans:
		for _, u := range unused {
			for i := u[0]; i < u[1]; i++ {
				if page[i] != 0 {
					t.Errorf("%s page %d: unused space holds bytes at %d: %q", name, pgno, i, page[i:min(u[1], i+40)])
					break spans
				}
			}
		}
		checked++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("dbstat listed no b-tree pages")
	}
}
