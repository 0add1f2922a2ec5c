package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/envelope"
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
		ids, numbers = append(ids, register(t, s, number)), append(numbers, number)
	}
	for i := 0; i < accounts; i += every {
		erase(t, s, ids[i])
	}
	if err := s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	files := readFiles(t, path)
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

// register registers an account with one device named "name"+number,
// whose last-resort prekey is as large as a real one (over a page of
// overflow), and returns its id.
func register(t *testing.T, s *sqlite.Store, number string) string {
	t.Helper()
	d := devices.NewDevice{PasswordHash: make([]byte, 32), RegistrationID: 1, Name: "name" + number,
		SignedPreKey:       api.SignedPreKey{KeyID: 1, PublicKey: make([]byte, 33), Signature: make([]byte, 64)},
		PQLastResortPreKey: api.SignedPreKey{KeyID: 2, PublicKey: make([]byte, 1569), Signature: make([]byte, 64)}, Created: time.Now()}
	reg, err := s.Register(context.Background(), devices.Registration{Number: number, NewID: uuid.NewString(), IdentityKey: make([]byte, 33), Primary: d})
	if err != nil {
		t.Fatal(err)
	}
	return reg.AccountID
}

// erase erases an account as gdpr does, without the purge.
func erase(t *testing.T, s *sqlite.Store, id string) {
	t.Helper()
	ctx, now := context.Background(), time.Now()
	if _, err := s.BeginErasure(ctx, id, "subj", now, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EraseAccount(ctx, id, func(_, text string) string { return text }); err != nil {
		t.Fatal(err)
	}
}

// readFiles returns the database file and its write-ahead log, one after
// the other.
func readFiles(t *testing.T, path string) []byte {
	t.Helper()
	var files []byte
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		files = append(files, b...)
	}
	return files
}

// TestPurgeUnderLoad erases accounts and purges while other goroutines
// send, fetch and ack, so the scrub's page writes share the write-ahead
// log with theirs and its reads race their rebalancing. Once the load
// stops, one more Purge leaves nothing of the erased accounts, of the
// envelopes they sent or were sent, or of acked envelopes in the files;
// every envelope still waiting reads back whole, and SQLite's integrity
// check passes.
func TestPurgeUnderLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hush.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const accounts, every, sends = 90, 6, 150
	var ids, numbers, survivors []string
	for i := range accounts {
		number := fmt.Sprintf("+1628%07d", i)
		ids, numbers = append(ids, register(t, s, number)), append(numbers, number)
		if i%every != 0 {
			survivors = append(survivors, ids[i])
		}
	}
	// content makes an envelope's content: a marker to look for, and
	// enough bytes that mailboxes span many pages.
	content := func() []byte {
		return append([]byte("msg-"+uuid.NewString()), bytes.Repeat([]byte{'.'}, 300)...)
	}
	send := func(from, to string) envelope.Stored {
		env := []envelope.Stored{{AccountID: to, DeviceID: 1, ID: uuid.New(), SourceAccount: from, SourceDevice: 1, Type: 1,
			Content: content(), ServerTimestamp: time.Now().UnixMilli(), Expires: time.Now().Add(time.Hour)}}
		if err := s.Insert(ctx, env, envelope.Quota{}); err != nil {
			t.Error(err)
		}
		return env[0]
	}
	// Envelopes from and to the accounts to be erased: erasure takes them.
	var gone [][]byte
	for i := 0; i < accounts; i += every {
		for _, e := range []envelope.Stored{send(ids[i], survivors[i%len(survivors)]), send(survivors[i%len(survivors)], ids[i])} {
			gone = append(gone, e.Content[:40])
		}
	}

	var mu sync.Mutex // guards waiting and gone
	waiting := map[uuid.UUID]envelope.Stored{}
	var load sync.WaitGroup
	stop := make(chan struct{})
	for w := range 2 {
		load.Add(1)
		go func() { // sends, and acks every other one it sent
			defer load.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					if n >= sends {
						return
					}
				default:
				}
				env := send("", survivors[(w*sends+n)%len(survivors)])
				if n%2 == 1 {
					mu.Lock()
					waiting[env.ID] = env
					mu.Unlock()
					continue
				}
				if err := s.Ack(ctx, []envelope.Acked{{AckKey: envelope.AckKey{AccountID: env.AccountID, DeviceID: 1, ID: env.ID}, Seq: env.Seq}}); err != nil {
					t.Error(err)
				}
				mu.Lock()
				gone = append(gone, env.Content[:40])
				mu.Unlock()
			}
		}()
	}
	load.Add(1)
	go func() { // reads mailboxes
		defer load.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.Fetch(ctx, survivors[n%len(survivors)], 1, 0, 50); err != nil {
				t.Error(err)
			}
		}
	}()
	for i := 0; i < accounts; i += every {
		erase(t, s, ids[i])
		if i%(4*every) == 0 {
			// A reader's snapshot may outlast the checkpoint's waits:
			// the final Purge must finish what this one leaves.
			if err := s.Purge(ctx); err != nil {
				t.Logf("purge under load: %v", err)
			}
		}
	}
	close(stop)
	load.Wait()
	if err := s.Purge(ctx); err != nil {
		t.Fatal(err)
	}

	checkUnusedSpaceZero(t, path)
	files := readFiles(t, path)
	for i := 0; i < accounts; i += every {
		for _, needle := range []string{ids[i], numbers[i], "name" + numbers[i]} {
			if bytes.Contains(files, []byte(needle)) {
				t.Errorf("erased account %d: %s found", i, needle)
			}
		}
	}
	for _, marker := range gone {
		if bytes.Contains(files, marker) {
			t.Errorf("deleted envelope %s found", marker)
		}
	}
	for _, to := range survivors {
		stored, err := s.Fetch(ctx, to, 1, 0, 10*sends)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range stored {
			if w, ok := waiting[e.ID]; ok {
				if !bytes.Equal(e.Content, w.Content) {
					t.Errorf("envelope %s: content changed", e.ID)
				}
				delete(waiting, e.ID)
			}
		}
	}
	if len(waiting) > 0 {
		t.Errorf("%d waiting envelopes lost", len(waiting))
	}
}

// checkUnusedSpaceZero reads the database file at path (its write-ahead
// log checkpointed) and fails the test for every b-tree page whose
// unallocated space (between the cell pointer array and the cell content
// area) or free blocks hold a byte other than zero; dbstat names the
// b-tree pages. It also runs SQLite's integrity check.
func checkUnusedSpaceZero(t *testing.T, path string) {
	t.Helper()
	if wal, err := os.Stat(path + "-wal"); err == nil && wal.Size() > 0 {
		t.Errorf("write-ahead log holds %d bytes after Purge", wal.Size())
	}
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
