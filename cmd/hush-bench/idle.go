package main

import (
	"context"
	"fmt"
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

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
	"github.com/hushmsg/hush/internal/devkeys"
)

// idle starts hushdBin as a child process, links n devices to one account,
// holds a WebSocket open for each (spread over several loopback source
// addresses, past the 64k ports of one), and reports the child's resident
// memory per connection.
func idle(ctx context.Context, hushdBin, db string, n int, jsonFile string) error {
	dir, err := os.MkdirTemp("", "hush-bench-idle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	args := []string{"--data", dir, "--listen", "127.0.0.1:0", "--admin-listen", "",
		"--test-numbers", benchNumber(0) + "=" + benchCode, "--max-devices", strconv.Itoa(n + 1),
		"--max-conns-per-address", "0", "--log-format", "json"}
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
	anon, err := client.New(client.Config{BaseURL: url})
	if err != nil {
		return err
	}
	ik, err := devkeys.NewIdentity()
	if err != nil {
		return err
	}
	dk, err := ik.DeviceKeys(1)
	if err != nil {
		return err
	}
	pc, err := anon.Verify(ctx, &api.Verify{Number: benchNumber(0), Code: benchCode, IdentityKey: ik.Public(), DeviceKeys: dk})
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	primary := anon.WithCredentials(client.Credentials{AccountID: pc.AccountID, DeviceID: pc.DeviceID, Password: pc.Password})
	fmt.Fprintf(os.Stderr, "linking %d devices\n", n)
	creds := make([]client.Credentials, 0, n)
	for i := range n {
		code, err := primary.ProvisioningCode(ctx)
		if err != nil {
			return err
		}
		dk, err := ik.DeviceKeys(uint32(i%16380 + 1))
		if err != nil {
			return err
		}
		c, err := anon.Link(ctx, &api.Link{AccountID: pc.AccountID, ProvisioningCode: code.Code, DeviceKeys: dk})
		if err != nil {
			return fmt.Errorf("link device %d: %w", i, err)
		}
		creds = append(creds, client.Credentials{AccountID: c.AccountID, DeviceID: c.DeviceID, Password: c.Password})
	}

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
	for _, s := range socks {
		if s != nil {
			s.Close()
		}
	}
	per := float64(withRSS-baseRSS) / float64(open.Load())
	return report(os.Stdout, jsonFile, result{
		"scenario": "idle", "store": storeName(db), "connections": open.Load(),
		"hushd_rss_before_kib": baseRSS, "hushd_rss_kib": withRSS, "kib_per_connection": per,
	}, []string{"scenario", "store", "connections", "hushd_rss_before_kib", "hushd_rss_kib", "kib_per_connection"})
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
