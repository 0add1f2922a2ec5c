package fileperm

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

// TestDir: a loose directory and the files in it are tightened, private
// ones left alone, symlinks and what lies deeper not followed.
func TestDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]fs.FileMode{"db": 0o644, "db-wal": 0o664, "keys.json": 0o600, "ro": 0o444}
	for name, m := range files {
		if err := os.WriteFile(filepath.Join(dir, name), nil, m); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, name), m); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	sub := filepath.Join(dir, "blobs")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(sub, "deep")
	if err := os.WriteFile(deep, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(root, "outside")
	if err := os.WriteFile(outside, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(outside, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}

	n, err := Dir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 { // the directory, db, db-wal, ro, blobs
		t.Errorf("tightened %d, want 5", n)
	}
	for path, want := range map[string]fs.FileMode{
		dir: 0o700, sub: 0o700, filepath.Join(dir, "db"): 0o600, filepath.Join(dir, "db-wal"): 0o600,
		filepath.Join(dir, "keys.json"): 0o600, filepath.Join(dir, "ro"): 0o400, outside: 0o644,
	} {
		if got := mode(t, path); got != want {
			t.Errorf("%s: %v, want %v", strings.TrimPrefix(path, root), got, want)
		}
	}
	if n, err := Dir(dir); err != nil || n != 0 {
		t.Errorf("second pass: %d, %v", n, err)
	}

	fresh := filepath.Join(root, "new", "home")
	if _, err := Dir(fresh); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, fresh); got != DirMode {
		t.Errorf("created %v", got)
	}
	if err := Create(filepath.Join(fresh, "x.db")); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, filepath.Join(fresh, "x.db")); got != FileMode {
		t.Errorf("Create made %v", got)
	}
}
