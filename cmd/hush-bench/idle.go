package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hushmsg/hush/internal/client"
)

// idle starts hushdBin as a child process, registers n accounts,
// holds a WebSocket open for each (spread over several loopback source
// addresses, past the 64k ports of one), and reports the child's resident
// memory per connection.
func idle(ctx context.Context, hushdBin, db string, n int, jsonFile, heapFile string) error {
	dir, err := os.MkdirTemp("", "hush-bench-idle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	args := []string{"--data", dir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--test-numbers", benchNumber(0) + ".." + benchNumber(n-1) + "=" + benchCode,
		"--verify-rate-address", "0", "--max-conns-per-address", "0", "--log-format", "json"}
	if db != "" {
		args = append(args, "--db", db)
	}
	cmd := exec.CommandContext(ctx, hushdBin, args...)
	logf, err := os.Create(filepath.Join(dir, "hushd.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", hushdBin, err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var url string
	for deadline := time.Now().Add(30 * time.Second); url == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("hushd did not start; see its log")
		}
		b, _ := os.ReadFile(filepath.Join(dir, "hushd.addr"))
		url = strings.TrimSpace(string(b))
	}
	fmt.Fprintf(os.Stderr, "registering %d accounts\n", n)
	regStart := time.Now()
	devs, err := registerDevices(ctx, url, n)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "registered in %s\n", time.Since(regStart).Round(time.Second))
	creds := make([]client.Credentials, n)
	for i, d := range devs {
		creds[i], _ = d.Credentials()
	}
	devs = nil
	runtime.GC()

	baseRSS, err := rss(cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "hushd RSS %d KiB; opening %d sockets\n", baseRSS, n)
	const perSource = 20000
	var open atomic.Int64
	socks := make([]*client.MessageSocket, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var firstErr atomic.Value
	for i, cr := range creds {
		src := net.IPv4(127, 0, 0, byte(2+i/perSource))
		hc := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}).DialContext}}
		c, err := client.New(client.Config{BaseURL: url, HTTPClient: hc, Credentials: &cr})
		if err != nil {
			return err
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s, err := c.DialMessages(ctx)
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			socks[i] = s
			open.Add(1)
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return fmt.Errorf("open sockets (%d open): %w", open.Load(), err)
	}
	time.Sleep(2 * time.Second) // let the server settle its buffers
	withRSS, err := rss(cmd.Process.Pid)
	if err != nil {
		return err
	}
	// Where the memory is, from the Go runtime's own figures.
	adm, _ := os.ReadFile(filepath.Join(dir, "hushd.admin.addr"))
	tg := &target{admin: strings.TrimSpace(string(adm))}
	goroutines, _ := tg.counter("go_goroutines")
	stack, _ := tg.counter("go_memstats_stack_inuse_bytes")
	heap, _ := tg.counter("go_memstats_heap_inuse_bytes")
	if heapFile != "" {
		if err := fetch(tg.admin+"/debug/pprof/heap", heapFile); err != nil {
			return fmt.Errorf("heap profile: %w", err)
		}
	}
	for _, s := range socks {
		if s != nil {
			s.Close()
		}
	}
	per := float64(withRSS-baseRSS) / float64(open.Load())
	return report(os.Stdout, jsonFile, result{
		"scenario": "idle", "store": storeName(db), "connections": open.Load(),
		"hushd_rss_before_kib": baseRSS, "hushd_rss_kib": withRSS, "kib_per_connection": per,
		"goroutines": goroutines, "stack_inuse_kib": stack / 1024, "heap_inuse_kib": heap / 1024,
	}, []string{"scenario", "store", "connections", "hushd_rss_before_kib", "hushd_rss_kib", "kib_per_connection", "goroutines", "stack_inuse_kib", "heap_inuse_kib"})
}

// rss reads a process's resident set size in KiB.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// fetch saves url's body to file.
func fetch(url, file string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
