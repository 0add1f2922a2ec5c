// Package oracle runs Node.js scripts against the official libsignal
// (@signalapp/libsignal-client, pinned in integration/oracle), the test
// oracle of the project's Go protocol code. It is for tests only: nothing
// outside _test files imports it.
//
// Scripts find the library with require('@signalapp/libsignal-client') or
// import from it: NODE_PATH points at the installed node_modules. Without
// Node.js the calling test skips, except under CI=true, where it fails.
package oracle

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	once    sync.Once
	modules string // node_modules of the installed oracle
	initErr error
)

// root returns the module's root directory (where go.mod is).
func root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// Modules installs the oracle if needed (scripts/oracle.sh) and returns its
// node_modules directory.
func Modules(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("oracle: node is not installed")
		}
		t.Skip("oracle: node is not installed")
	}
	once.Do(func() {
		r, err := root()
		if err != nil {
			initErr = err
			return
		}
		cmd := exec.Command("bash", filepath.Join(r, "scripts", "oracle.sh"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			initErr = &installError{err: err, out: out.String()}
			return
		}
		modules = filepath.Join(r, "integration", "oracle", "node_modules")
	})
	if initErr != nil {
		t.Fatalf("oracle: install: %v", initErr)
	}
	return modules
}

type installError struct {
	err error
	out string
}

func (e *installError) Error() string { return e.err.Error() + ": " + e.out }

// Command returns a node command running script (a path) with args and
// the oracle on NODE_PATH.
func Command(t testing.TB, script string, args ...string) *exec.Cmd {
	t.Helper()
	mods := Modules(t)
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	return cmd
}

// Run runs script with stdin and returns its standard output; a failure
// fails the test with the script's standard error.
func Run(t testing.TB, stdin []byte, script string, args ...string) []byte {
	t.Helper()
	cmd := Command(t, script, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("oracle: node %s: %v\n%s", filepath.Base(script), err, stderr.String())
	}
	return stdout.Bytes()
}
