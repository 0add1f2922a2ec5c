package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
)

// wiped is what wipeHome removed from a home, and what it left there.
type wiped struct {
	removed []string
	kept    []string
}

// storeFiles are the store's database and the files SQLite keeps beside
// it: everything the device knows (credentials, identity and prekeys,
// sessions, contacts, history, groups, push keys) is in them.
var storeFiles = []string{store.FileName, store.FileName + "-wal", store.FileName + "-shm", store.FileName + "-journal"}

// transientPatterns match the files hush writes beside the store while a
// command runs and removes when it ends: attachment ciphertext in transit
// and an export being downloaded. An interrupted command may leave them.
var transientPatterns = []string{".upload-*", ".download-*", ".export-*.tmp"}

// lockFile is lockHome's file. It holds nothing and stays: removing it
// while this process holds the lock would let another process lock a new
// file of that name at the same time.
const lockFile = "lock"

// wipeHome removes the local state of the device whose home is dir, once
// its account is erased, so that the home can register again. It removes
// what hush made and needs, and nothing else: received attachments in
// downloads/ and exports are the user's files, as is anything the user
// put there, so they are kept and listed. The store's files are
// overwritten with zeros before they are removed, as a best effort: on
// flash storage and copy-on-write or journaling file systems old blocks
// may survive, which only disk encryption covers. The caller holds the
// home's lock and has closed the store.
func wipeHome(dir string) (*wiped, error) {
	w := &wiped{removed: []string{}, kept: []string{}} // JSON lists, never null
	var errs []error
	remove := func(name string, zero bool) {
		path := filepath.Join(dir, name)
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err == nil && zero && fi.Mode().IsRegular() {
			_ = zeroFile(path) // best effort; removing is what counts
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			return
		}
		w.removed = append(w.removed, name)
	}
	for _, name := range storeFiles {
		remove(name, true)
	}
	for _, pat := range transientPatterns {
		names, _ := filepath.Glob(filepath.Join(dir, pat)) // the patterns are valid
		for _, path := range names {
			remove(filepath.Base(path), false)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		errs = append(errs, err)
	}
	for _, e := range entries {
		switch name := e.Name(); {
		case name == lockFile:
		case e.IsDir():
			w.kept = append(w.kept, name+string(filepath.Separator))
		default:
			w.kept = append(w.kept, name)
		}
	}
	slices.Sort(w.kept)
	if err := errors.Join(errs...); err != nil {
		return w, fmt.Errorf("remove local state: %w", err)
	}
	return w, nil
}

// zeroFile overwrites a file's bytes with zeros and flushes them.
func zeroFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	zeros := make([]byte, 64<<10)
	for left := fi.Size(); left > 0; {
		n := min(left, int64(len(zeros)))
		if _, err := f.Write(zeros[:n]); err != nil {
			return err
		}
		left -= n
	}
	return f.Sync()
}
