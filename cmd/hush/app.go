package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/internal/client"
	"github.com/hushmsg/hush/internal/fileperm"
)

// requestTimeout bounds one REST call and one socket dial; sockets
// themselves live as long as the command.
const requestTimeout = 60 * time.Second

// env is the process around a command: its standard streams and
// environment, so that tests can run commands in-process.
type env struct {
	stdin    io.Reader
	stdinTTY bool // stdin is a terminal: a command may prompt
	stdout   io.Writer
	stderr   io.Writer
	getenv   func(string) string
}

func newEnv() *env {
	// A character device is not enough: /dev/null is one.
	tty := term.IsTerminal(int(os.Stdin.Fd()))
	return &env{stdin: os.Stdin, stdinTTY: tty, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
}

// globals are the flags every command takes.
type globals struct {
	server string
	home   string
	json   bool
}

func defaultGlobals(getenv func(string) string) globals {
	g := globals{server: "http://127.0.0.1:8080", home: "~/.hush"}
	if v := getenv("HUSH_SERVER"); v != "" {
		g.server = v
	}
	if v := getenv("HUSH_HOME"); v != "" {
		g.home = v
	}
	return g
}

// app is one command's run: its flags, and the store and clients it opens
// on demand.
type app struct {
	*env
	g globals

	st     *store.Store
	unlock func()
	out    *printer
}

// flagSet returns a flag set holding the global flags, so that they may
// come before or after the command name.
func (a *app) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by report
	fs.StringVar(&a.g.server, "server", a.g.server, "server base URL (env HUSH_SERVER)")
	fs.StringVar(&a.g.home, "home", a.g.home, "client home directory (env HUSH_HOME)")
	fs.BoolVar(&a.g.json, "json", a.g.json, "print JSON")
	return fs
}

// parse parses a command's arguments, flags and positional arguments in
// any order ("--" ends the flags), and checks the positional count.
func (a *app) parse(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				printUsage(a.stdout)
				return nil, errHelpShown
			}
			return nil, usageErrorf("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) < minPos:
		return nil, usageErrorf("%s: missing arguments", fs.Name())
	case maxPos >= 0 && len(pos) > maxPos:
		return nil, usageErrorf("%s: too many arguments", fs.Name())
	}
	return pos, nil
}

// printer returns the command's output printer.
func (a *app) printer() *printer {
	if a.out == nil {
		a.out = &printer{w: a.stdout, json: a.g.json}
	}
	return a.out
}

// homeDir expands a leading "~" of --home.
func (a *app) homeDir() (string, error) {
	h := a.g.home
	if h == "~" || strings.HasPrefix(h, "~/") {
		u, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("--home %s: %w", h, err)
		}
		h = filepath.Join(u, h[1:])
	}
	if h == "" {
		return "", usageErrorf("--home must not be empty")
	}
	return h, nil
}

// openStore creates the home directory (mode 0700) if needed, locks it
// for this process and opens the store.
func (a *app) openStore(ctx context.Context) (*store.Store, error) {
	if a.st != nil {
		return a.st, nil
	}
	dir, err := a.homeDir()
	if err != nil {
		return nil, err
	}
	if tightened, err := fileperm.Dir(dir); err != nil {
		return nil, fmt.Errorf("home: %w", err)
	} else if tightened > 0 {
		fmt.Fprintf(a.stderr, "hush: made %d entries of the home directory private to you (0700, 0600)\n", tightened)
	}
	unlock, err := lockHome(dir)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, dir)
	if err != nil {
		unlock()
		return nil, err
	}
	a.st, a.unlock = st, unlock
	return st, nil
}

// account opens the store and returns this device's account.
func (a *app) account(ctx context.Context) (*store.Store, *store.Account, error) {
	st, err := a.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	acct, err := st.Account()
	if err != nil {
		return nil, nil, err
	}
	return st, acct, nil
}

func (a *app) close() {
	if a.st != nil {
		if err := a.st.Close(); err != nil {
			fmt.Fprintln(a.stderr, "hush: close store:", err)
		}
		a.st = nil
	}
	if a.unlock != nil {
		a.unlock()
		a.unlock = nil
	}
}

// anonymous returns a client without credentials.
func (a *app) anonymous() (*client.Client, error) {
	c, err := client.New(client.Config{
		BaseURL:    a.g.server,
		HTTPClient: &http.Client{Timeout: requestTimeout},
		UserAgent:  "hush-cli",
	})
	if err != nil {
		return nil, usageErrorf("--server: %v", err)
	}
	return c, nil
}

// device returns a client that authenticates as acct.
func (a *app) device(acct *store.Account) (*client.Client, error) {
	c, err := a.anonymous()
	if err != nil {
		return nil, err
	}
	return c.WithCredentials(client.Credentials{
		AccountID: acct.AccountID, DeviceID: acct.DeviceID, Password: acct.Password.Reveal(),
	}), nil
}

// printer writes a command's results: lines for people, or one JSON
// object per line with --json. It is safe for concurrent use.
type printer struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
}

// result prints v as JSON with --json, else the text line.
func (p *printer) result(v any, format string, args ...any) error {
	if p.json {
		return p.jsonLine(v)
	}
	return p.linef(format, args...)
}

func (p *printer) linef(format string, args ...any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := fmt.Fprintf(p.w, format+"\n", args...)
	return err
}

func (p *printer) jsonLine(v any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	enc := json.NewEncoder(p.w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// formatTime renders Unix milliseconds in local time.
func formatTime(ms int64) string {
	return time.UnixMilli(ms).Format("2006-01-02 15:04:05")
}
