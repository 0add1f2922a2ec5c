package sqlite_test

import (
	"bytes"
	"context"
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
// even as a copy of a key in an interior page (SQLite's index b-trees
// hold each key once, and secure_delete zeroes it when it goes).
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
		files = append(files, b...)
	}
	for i := range accounts {
		erased := i%every == 0
		for _, needle := range []string{ids[i], numbers[i], "name" + numbers[i]} {
			if bytes.Contains(files, []byte(needle)) == erased {
				t.Errorf("account %d (erased: %v): %s found: %v", i, erased, needle, erased)
			}
		}
	}
}
