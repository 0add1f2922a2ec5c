package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hushmsg/hush/internal/client"
)

// idleConfig is the idle scenario's flags.
type idleConfig struct {
	HushdBin, DB, NATS string
	N, Nodes           int
	JSON, HeapFile     string
	MemLimit           string // GOMEMLIMIT for each hushd; empty: none
}

// maxPerHolder is how many sockets one holder process opens: this machine
// lets a process have 20,000 files open.
const maxPerHolder = 19000

// idleNode is one hushd child process.
type idleNode struct {
	cmd        *exec.Cmd
	url, admin string
}

// idle starts cfg.Nodes hushd child processes (one on SQLite, or a cluster
// sharing PostgreSQL and NATS), registers cfg.N accounts, has holder
// processes (hush-bench idle-hold, one per node, each from its own
// loopback source address, past the 64k ports of one) hold a WebSocket
// open for each, and reports the nodes' resident memory per connection.
// Holders are separate processes because one process may open only
// 20,000 files here; so is each node.
func idle(ctx context.Context, cfg idleConfig) error {
	switch {
	case cfg.Nodes < 1 || cfg.N < 1:
		return errors.New("--n ≥ 1, --nodes ≥ 1")
	case cfg.Nodes > 1 && (cfg.DB == "" || cfg.NATS == ""):
		return errors.New("--nodes > 1 needs --db (PostgreSQL) and --nats: the nodes form one cluster")
	case (cfg.N+cfg.Nodes-1)/cfg.Nodes > maxPerHolder:
		return fmt.Errorf("at most %d sockets per node (a process may open 20,000 files here): --nodes %d or more", maxPerHolder, (cfg.N+maxPerHolder-1)/maxPerHolder)
	}
	dir, err := os.MkdirTemp("", "hush-bench-idle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var nodes []*idleNode
	defer func() {
		for _, nd := range nodes {
			_ = nd.cmd.Process.Kill()
			_ = nd.cmd.Wait()
		}
	}()
	for i := range cfg.Nodes {
		nd, err := startIdleNode(ctx, cfg, filepath.Join(dir, fmt.Sprintf("node%d", i)))
		if err != nil {
			return err
		}
		nodes = append(nodes, nd)
	}
	fmt.Fprintf(os.Stderr, "%d hushd node(s) up; registering %d accounts\n", len(nodes), cfg.N)
	regStart := time.Now()
	devs, err := registerDevices(ctx, nodes[0].url, cfg.N)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "registered in %s\n", time.Since(regStart).Round(time.Second))
	creds := make([]client.Credentials, len(devs))
	for i, d := range devs {
		creds[i], _ = d.Credentials()
	}
	devs = nil

	rssOf := func() (int64, error) {
		var sum int64
		for _, nd := range nodes {
			kib, err := rss(nd.cmd.Process.Pid)
			if err != nil {
				return 0, err
			}
			sum += kib
		}
		return sum, nil
	}
	for _, nd := range nodes {
		_ = fetch(nd.admin+"/debug/pprof/heap?gc=1", os.DevNull) // a GC: the baseline without registration's garbage
	}
	baseRSS, err := rssOf()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "hushd RSS %d KiB; opening %d sockets\n", baseRSS, cfg.N)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	per := (cfg.N + cfg.Nodes - 1) / cfg.Nodes
	var holders []*exec.Cmd
	var stdins []io.Closer
	defer func() {
		for _, in := range stdins {
			in.Close() // a holder closes its sockets and exits at EOF
		}
		for _, h := range holders {
			_ = h.Wait()
		}
	}()
	results := make(chan error, cfg.Nodes)
	var open atomic.Int64
	for i, nd := range nodes {
		share := creds[min(i*per, len(creds)):min((i+1)*per, len(creds))]
		file := filepath.Join(dir, fmt.Sprintf("holder%d.json", i))
		b, err := json.Marshal(share)
		if err != nil {
			return err
		}
		if err := os.WriteFile(file, b, 0o600); err != nil {
			return err
		}
		h := exec.CommandContext(ctx, self, "idle-hold", "--url", nd.url, "--source", fmt.Sprintf("127.0.0.%d", 2+i), "--creds", file)
		h.Stderr = os.Stderr
		in, err := h.StdinPipe()
		if err != nil {
			return err
		}
		out, err := h.StdoutPipe()
		if err != nil {
			return err
		}
		if err := h.Start(); err != nil {
			return err
		}
		holders, stdins = append(holders, h), append(stdins, in)
		go func() {
			// The holder prints how many it opened once all are open.
			var n int64
			if _, err := fmt.Fscan(out, &n); err != nil {
				results <- fmt.Errorf("holder %d ended before its sockets were open", i)
				return
			}
			open.Add(n)
			results <- nil
		}()
	}
	for range nodes {
		if err := <-results; err != nil {
			return err
		}
	}
	time.Sleep(2 * time.Second) // let the servers settle their buffers
	withRSS, err := rssOf()
	if err != nil {
		return err
	}
	// Where the memory is, from the Go runtime's own figures.
	var goroutines, stack, heap float64
	for _, nd := range nodes {
		tg := &target{admin: nd.admin}
		g, _ := tg.counter("go_goroutines")
		st, _ := tg.counter("go_memstats_stack_inuse_bytes")
		h, _ := tg.counter("go_memstats_heap_inuse_bytes")
		goroutines, stack, heap = goroutines+g, stack+st, heap+h
	}
	if cfg.HeapFile != "" {
		if err := fetch(nodes[0].admin+"/debug/pprof/heap", cfg.HeapFile); err != nil {
			return fmt.Errorf("heap profile: %w", err)
		}
	}
	return report(os.Stdout, cfg.JSON, result{
		"scenario": "idle", "store": storeName(cfg.DB), "nodes": len(nodes), "gomemlimit": cfg.MemLimit, "connections": open.Load(),
		"hushd_rss_before_kib": baseRSS, "hushd_rss_kib": withRSS,
		"kib_per_connection": float64(withRSS-baseRSS) / float64(open.Load()),
		"goroutines":         goroutines, "stack_inuse_kib": stack / 1024, "heap_inuse_kib": heap / 1024,
	}, []string{"scenario", "store", "nodes", "gomemlimit", "connections", "hushd_rss_before_kib", "hushd_rss_kib", "kib_per_connection", "goroutines", "stack_inuse_kib", "heap_inuse_kib"})
}

// startIdleNode starts one hushd for the idle scenario, its data in dir.
func startIdleNode(ctx context.Context, cfg idleConfig, dir string) (*idleNode, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	args := []string{"--data", dir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--admin-pprof",
		"--test-numbers", benchNumber(0) + ".." + benchNumber(cfg.N-1) + "=" + benchCode,
		"--verify-rate-address", "0", "--max-conns-per-address", "0", "--log-format", "json"}
	if cfg.DB != "" {
		args = append(args, "--db", cfg.DB)
	}
	if cfg.NATS != "" {
		args = append(args, "--nats", cfg.NATS)
	}
	cmd := exec.CommandContext(ctx, cfg.HushdBin, args...)
	if cfg.MemLimit != "" {
		cmd.Env = append(os.Environ(), "GOMEMLIMIT="+cfg.MemLimit)
	}
	logf, err := os.Create(filepath.Join(dir, "hushd.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.HushdBin, err)
	}
	nd := &idleNode{cmd: cmd}
	for deadline := time.Now().Add(30 * time.Second); nd.url == "" || nd.admin == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, fmt.Errorf("hushd did not start; see %s", logf.Name())
		}
		b, _ := os.ReadFile(filepath.Join(dir, "hushd.addr"))
		a, _ := os.ReadFile(filepath.Join(dir, "hushd.admin.addr"))
		nd.url, nd.admin = strings.TrimSpace(string(b)), strings.TrimSpace(string(a))
	}
	return nd, nil
}

// idleHold is the holder process of the idle scenario: it opens a socket
// for each device in the credentials file, from source, prints how many
// it opened, and holds them until its standard input ends.
func idleHold(ctx context.Context, url, source, credsFile string) error {
	b, err := os.ReadFile(credsFile)
	if err != nil {
		return err
	}
	var creds []client.Credentials
	if err := json.Unmarshal(b, &creds); err != nil {
		return err
	}
	src := net.ParseIP(source)
	if src == nil {
		return fmt.Errorf("--source %q is not an IP address", source)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}).DialContext}}
	socks := make([]*client.MessageSocket, len(creds))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var firstErr atomic.Value
	var open atomic.Int64
	for i := range creds {
		c, err := client.New(client.Config{BaseURL: url, HTTPClient: hc, Credentials: &creds[i]})
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
	defer func() {
		for _, s := range socks {
			if s != nil {
				s.Close()
			}
		}
	}()
	if err, _ := firstErr.Load().(error); err != nil {
		return fmt.Errorf("open sockets (%d open): %w", open.Load(), err)
	}
	fmt.Println(open.Load())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
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
