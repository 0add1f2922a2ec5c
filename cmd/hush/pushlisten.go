package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
	"github.com/hushmsg/hush/internal/webpush"
)

const (
	// maxPushMessage is the largest push message accepted: RFC 8030 §7.2
	// has push services take at least 4096 octets of payload.
	maxPushMessage = 4096
	// maxFetchBackoff bounds the wait between tries after a wake-up whose
	// messages could not be fetched.
	maxFetchBackoff = time.Minute
)

// distributor is a UnifiedPush distributor for this device alone: the
// push service (RFC 8030) and the user agent in one. It takes Web Push
// messages posted to its one secret path, opens them with the
// subscription's keys (RFC 8291) and signals a wake for each that is
// hushd's {"hush":"wake"}. Anything else is refused and changes nothing.
type distributor struct {
	path  string // "/push/" + the secret
	keys  *pushKeys
	warn  io.Writer
	wakes chan struct{} // capacity 1: a wake is pending
}

func newDistributor(secret string, keys *pushKeys, warn io.Writer) *distributor {
	return &distributor{path: "/push/" + secret, keys: keys, warn: warn, wakes: make(chan struct{}, 1)}
}

func (d *distributor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The path is the endpoint's credential: compare it in constant time.
	if subtle.ConstantTimeCompare([]byte(r.URL.EscapedPath()), []byte(d.path)) != 1 {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST a push message", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPushMessage+1))
	switch {
	case err != nil:
		d.refuse(w, http.StatusBadRequest, "unreadable body")
		return
	case len(body) > maxPushMessage:
		d.refuse(w, http.StatusRequestEntityTooLarge, "larger than 4096 bytes")
		return
	case !strings.EqualFold(r.Header.Get("Content-Encoding"), "aes128gcm"):
		// RFC 8291 §4: Web Push messages are aes128gcm.
		d.refuse(w, http.StatusBadRequest, "not Content-Encoding aes128gcm")
		return
	}
	plain, err := webpush.Decrypt(d.keys.priv, d.keys.auth, body)
	if err != nil {
		d.refuse(w, http.StatusBadRequest, "undecryptable")
		return
	}
	if !isWake(plain) {
		d.refuse(w, http.StatusBadRequest, "not a wake-up")
		return
	}
	// RFC 8030 §5: 201 Created, with the push message resource.
	w.Header().Set("Location", "/message/"+rand.Text())
	w.WriteHeader(http.StatusCreated)
	select {
	case d.wakes <- struct{}{}:
	default: // one is pending already: that drain fetches this one's too
	}
}

// refuse answers a push message that is not a wake-up and says so on
// stderr; it holds nothing of the message.
func (d *distributor) refuse(w http.ResponseWriter, status int, why string) {
	fmt.Fprintf(d.warn, "hush: refused a push message: %s\n", why)
	http.Error(w, why, status)
}

// isWake reports whether a push message is hushd's wake-up marker.
func isWake(plain []byte) bool {
	var m map[string]string
	return json.Unmarshal(plain, &m) == nil && len(m) == 1 && m["hush"] == "wake"
}

// listenerBase returns the base URL hushd reaches a listener on: base when
// given, else http:// and the address listened on, which must then name
// a host.
func listenerBase(addr net.Addr, base string) (string, error) {
	if base == "" {
		ta, ok := addr.(*net.TCPAddr)
		if !ok || ta.IP.IsUnspecified() {
			return "", usageErrorf("push listen: listening on every address: say with --url how hushd reaches this listener")
		}
		return "http://" + ta.String(), nil
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return "", usageErrorf("push listen: --url must be http(s)://HOST[:PORT], without a path")
	}
	return u.Scheme + "://" + u.Host, nil
}

// pushListener drains the mailbox once at its start and then on every
// wake-up a distributor signals.
type pushListener struct {
	a     *app
	m     *messenger
	wakes <-chan struct{}
	idle  time.Duration // as receive --timeout
}

// run drains until ctx ends. A drain that fails is tried again, sooner
// when woken again, after a growing wait; only a refused credential or a
// removed device end it with an error.
func (l *pushListener) run(ctx context.Context) error {
	var (
		retry   <-chan time.Time
		backoff time.Duration
		woken   bool // the first drain fetches what waited before
	)
	for {
		if woken {
			if err := l.printWoken(); err != nil {
				return err
			}
		}
		err := newInbox(l.a, l.m).run(ctx, true, l.idle)
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			retry, backoff = nil, 0
			fmt.Fprintln(l.a.stderr, "waiting for wake-ups")
		case client.IsCode(err, api.CodeUnauthorized), client.CloseStatus(err) == wire.CloseDeviceRemoved:
			return socketError(err)
		case client.CloseStatus(err) == wire.CloseDisplaced:
			// Another connection of this device drains now.
			retry, backoff = nil, 0
			fmt.Fprintf(l.a.stderr, "hush: %v; waiting for wake-ups\n", socketError(err))
		default:
			backoff = min(max(2*backoff, time.Second), maxFetchBackoff)
			retry = time.After(backoff)
			fmt.Fprintf(l.a.stderr, "hush: cannot fetch messages: %s; trying again in %s\n", oneLine(socketError(err).Error()), backoff)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-l.wakes:
			woken = true
		case <-retry:
			woken = false
		}
	}
}

func (l *pushListener) printWoken() error {
	p := l.a.printer()
	if p.json {
		return p.jsonLine(map[string]any{"event": "woken", "at": nowMilli()})
	}
	return p.linef("woken: fetching messages")
}

// serveDistributor serves d on ln until stop is called.
func serveDistributor(ln net.Listener, d *distributor) (stop func()) {
	srv := &http.Server{
		Handler:           d,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0), // refusals are reported by d
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(d.warn, "hush: push listener: %v\n", err)
		}
	}()
	return func() {
		// Let a message being answered finish; then close what is left.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	}
}
