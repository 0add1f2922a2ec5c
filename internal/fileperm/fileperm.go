package fileperm

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Modes of private data.
const (
	DirMode  fs.FileMode = 0o700
	FileMode fs.FileMode = 0o600
)

// Dir creates dir (0700) if needed and takes the group's and others'
// bits from it and from every file and directory directly in it
// (without recursing: what lies deeper is behind a 0700 directory). It
// returns how many entries it tightened.
func Dir(dir string) (int, error) {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return 0, err
	}
	n := 0
	tighten := func(path string) error {
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		if info.Mode()&fs.ModeSymlink != 0 || !(info.Mode().IsRegular() || info.IsDir()) {
			return nil // a link's target is not ours to change
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(path, perm&^0o077); err != nil {
				return err
			}
			n++
		}
		return nil
	}
	if err := tighten(dir); err != nil {
		return n, fmt.Errorf("tighten permissions: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return n, fmt.Errorf("tighten permissions: %w", err)
	}
	for _, e := range entries {
		if err := tighten(filepath.Join(dir, e.Name())); err != nil {
			return n, fmt.Errorf("tighten permissions: %w", err)
		}
	}
	return n, nil
}

// Create creates the file at path with mode 0600 if it does not exist,
// so that a library that creates it otherwise (with 0644 under the usual
// umask) finds it private; SQLite gives its -wal and -shm files the
// database file's mode.
func Create(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return err
	}
	return f.Close()
}
