package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hushmsg/hush/internal/storetest"
)

// privatePostgres is a PostgreSQL server of the test's own, so that it can
// be restarted without disturbing the machine's shared one.
type privatePostgres struct {
	bin, dir string
	port     int
}

// startPrivatePostgres runs initdb and a server on a free port. It skips
// where PostgreSQL's programs are missing, except under CI=true.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL server programs (initdb, pg_ctl) not found under CI=true")
		}
		t.Skip("PostgreSQL server programs not found")
	}
	p := &privatePostgres{bin: filepath.Dir(matches[len(matches)-1])}
	dir, err := os.MkdirTemp("", "hush-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir = dir
	t.Cleanup(func() {
		_ = p.run("pg_ctl", "-D", p.data(), "stop", "-m", "immediate")
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root; its own user runs it.
		if err := exec.Command("chown", "postgres:", dir).Run(); err != nil {
			t.Fatalf("chown: %v", err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if err := p.run("initdb", "-D", p.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8"); err != nil {
		t.Fatalf("initdb: %v", err)
	}
	if err := p.run("pg_ctl", "-D", p.data(), "-l", filepath.Join(dir, "pg.log"), "-w", "start",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", p.port, dir)); err != nil {
		t.Fatalf("pg_ctl start: %v", err)
	}
	return p
}

func (p *privatePostgres) data() string { return filepath.Join(p.dir, "data") }

// URL is the database "postgres" of the private server.
func (p *privatePostgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// restart stops the server (fast: connections are cut) and starts it again.
func (p *privatePostgres) restart() error {
	return p.run("pg_ctl", "-D", p.data(), "-l", filepath.Join(p.dir, "pg.log"), "-w", "-m", "fast", "restart",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", p.port, p.dir))
}

func (p *privatePostgres) run(prog string, args ...string) error {
	path := filepath.Join(p.bin, prog)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", prog, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// TestPostgresRestartUnderLoad: a real PostgreSQL restart in the middle of
// a stream of sends: no node exits, and every send answered with success
// is delivered, exactly once after de-duplication.
func TestPostgresRestartUnderLoad(t *testing.T) {
	pg := startPrivatePostgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE hush"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	db := strings.Replace(pg.URL(), "/postgres?", "/hush?", 1)
	nats := storetest.NATSURL(t)
	nodes := []*hushd{
		startHushd(t, t.TempDir(), "--db", db, "--nats", nats),
		startHushd(t, t.TempDir(), "--db", db, "--nats", nats),
	}
	alice := rest(nodes[0]).RegisterNumber(t, "+15550000001", "111111")
	bob := rest(nodes[0]).RegisterNumber(t, "+15550000002", "222222")
	r := &receiver{dev: bob, nodes: []*hushd{nodes[1]}, got: map[string]int{}}
	done := make(chan struct{})
	go func() { defer close(done); r.run() }()
	waitFor(t, "receiver connected", func() bool { return r.connections() > 0 })

	restarted := make(chan error, 1)
	ok, failed := sendStream(t, alice, bob, func() []*hushd { return nodes }, 600, func() {
		// Restart while the stream goes on.
		go func() { restarted <- pg.restart() }()
	})
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every acknowledged send to be received", func() bool { return r.missing(ok) == 0 })
	waitFor(t, "mailbox drained", func() bool { return envelopesLeft(t, db) == 0 })
	r.stop()
	<-done
	for i, n := range nodes {
		select {
		case err := <-n.done:
			t.Fatalf("node %d exited across the restart: %v\n%s", i, err, n.logText())
		default:
		}
	}
	if failed == 0 {
		t.Fatal("no send failed: the restart did not happen under load")
	}
	t.Logf("%d sends acknowledged, %d attempts refused during the restart, %d distinct received", len(ok), failed, len(r.got))
}
