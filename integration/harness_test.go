package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// bin holds the binaries built once for the package.
var bin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hush-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	build := exec.Command("go", "build", "-race", "-o", dir+string(os.PathSeparator), "../cmd/hushd", "../cmd/hush")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		return 1
	}
	bin = dir
	return m.Run()
}

// hushd is a running server process.
type hushd struct {
	t    *testing.T
	dir  string
	args []string // the caller's extra flags, for restart
	URL  string
	cmd  *exec.Cmd
	once sync.Once // kill waits for the process once
	done chan error
}

// startHushd runs hushd on dataDir with a free port and test numbers.
func startHushd(t *testing.T, dataDir string, args ...string) *hushd {
	t.Helper()
	_ = os.Remove(filepath.Join(dataDir, "hushd.addr"))
	extra := args
	args = append([]string{"--data", dataDir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--test-numbers", "+15550000001=111111,+15550000002=222222,+15550000003=333333"}, args...)
	cmd := exec.Command(filepath.Join(bin, "hushd"), args...)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.OpenFile(filepath.Join(dataDir, "hushd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &hushd{t: t, dir: dataDir, args: extra, cmd: cmd, done: make(chan error, 1)}
	go func() { h.done <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() { h.kill() })
	waitFor(t, "hushd to listen", func() bool {
		select {
		case err := <-h.done:
			h.done <- err
			t.Fatalf("hushd exited: %v\n%s", err, h.logText())
		default:
		}
		b, err := os.ReadFile(filepath.Join(dataDir, "hushd.addr"))
		h.URL = strings.TrimSpace(string(b))
		return err == nil && h.URL != ""
	})
	return h
}

func (h *hushd) logText() string {
	b, _ := os.ReadFile(filepath.Join(h.dir, "hushd.log"))
	return string(b)
}

// stop sends SIGTERM and waits for a clean exit.
func (h *hushd) stop() {
	h.t.Helper()
	var err error
	timedOut := false
	h.once.Do(func() {
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err = <-h.done:
		case <-time.After(30 * time.Second):
			timedOut = true
			_ = h.cmd.Process.Kill()
			<-h.done
		}
	})
	if timedOut {
		h.t.Fatal("hushd did not stop within 30 s of SIGTERM")
	}
	if err != nil {
		h.t.Fatalf("hushd exit after SIGTERM: %v\n%s", err, h.logText())
	}
}

// restart waits for h to be gone (after a kill) and starts it again with the
// same data directory and flags.
func (h *hushd) restart(t *testing.T) *hushd {
	t.Helper()
	h.kill()
	return startHushd(t, h.dir, h.args...)
}

func (h *hushd) kill() {
	h.once.Do(func() {
		_ = h.cmd.Process.Kill()
		<-h.done
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// result of one hush command.
type result struct {
	Stdout, Stderr string
	Code           int
}

// hush runs the client with home and server.
func hush(t *testing.T, server, home string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "hush"), append([]string{"--server", server, "--home", home}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("hush %v: %v", args, err)
	}
	return r
}

// mustHush runs the client and fails the test unless it exits 0.
func mustHush(t *testing.T, server, home string, args ...string) string {
	t.Helper()
	r := hush(t, server, home, args...)
	if r.Code != 0 {
		t.Fatalf("hush %v: exit %d\nstdout: %s\nstderr: %s", args, r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}
