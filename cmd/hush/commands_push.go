package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"

	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
)

// pushCommands are the subcommands of "hush push".
var pushCommands = map[string]func(ctx context.Context, a *app, args []string) error{
	"register":   cmdPushRegister,
	"status":     cmdPushStatus,
	"unregister": cmdPushUnregister,
	"vapid":      cmdPushVAPID,
	"listen":     cmdPushListen,
}

// cmdPush dispatches "hush push SUBCOMMAND".
func cmdPush(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usageErrorf("push: missing subcommand (register, status, unregister, vapid, listen)")
	}
	run, ok := pushCommands[args[0]]
	if !ok {
		return usageErrorf("push: unknown subcommand %q", args[0])
	}
	return run(ctx, a, args[1:])
}

// deviceClient opens the store and returns it with a client of this device.
func (a *app) deviceClient(ctx context.Context) (*store.Store, *client.Client, error) {
	st, acct, err := a.account(ctx)
	if err != nil {
		return nil, nil, err
	}
	cl, err := a.device(acct)
	if err != nil {
		return nil, nil, err
	}
	return st, cl, nil
}

// parseRegister reads push register's flags into the registration they
// ask for (without Web Push keys).
func (a *app) parseRegister(args []string) (*api.PushRegistration, error) {
	fs := a.flagSet("push register")
	var f registerFlags
	fs.StringVar(&f.unifiedPush, "unifiedpush", "", "wake by Web Push at this UnifiedPush endpoint URL")
	fs.StringVar(&f.apns, "apns", "", "wake by APNs with this device token (hex)")
	fs.StringVar(&f.topic, "topic", "", "APNs topic (the app's bundle id)")
	fs.BoolVar(&f.sandbox, "sandbox", false, "APNs sandbox (development builds)")
	fs.StringVar(&f.fcm, "fcm", "", "wake by FCM with this registration token")
	fs.StringVar(&f.wns, "wns", "", "wake by WNS at this channel URI")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return nil, err
	}
	return f.registration()
}

// cmdPushRegister registers where this device is woken: a UnifiedPush
// endpoint (with fresh keys kept in the store), or an APNs, FCM or WNS
// token for testing.
func cmdPushRegister(ctx context.Context, a *app, args []string) error {
	reg, err := a.parseRegister(args)
	if err != nil {
		return err
	}
	st, cl, err := a.deviceClient(ctx)
	if err != nil {
		return err
	}
	var keys *pushKeys
	if reg.Kind == api.PushWebPush {
		if keys, err = newPushKeys(); err != nil {
			return err
		}
	}
	if err := registerPush(ctx, st, cl, reg, keys); err != nil {
		return err
	}
	out := map[string]any{"kind": reg.Kind}
	where := ""
	switch reg.Kind {
	case api.PushWebPush:
		out["endpoint"] = endpointOrigin(reg.Endpoint)
		where = " at " + endpointOrigin(reg.Endpoint)
	case api.PushWNS:
		out["channel_uri"] = endpointOrigin(reg.ChannelURI)
		where = " at " + endpointOrigin(reg.ChannelURI)
	}
	return a.printer().result(out, "registered for wake-ups by %s%s", kindName(reg.Kind), where)
}

// pushStatusJSON is push status --json.
type pushStatusJSON struct {
	Registered bool   `json:"registered"`
	Kind       string `json:"kind,omitempty"`
	Created    int64  `json:"created,omitempty"`
	Updated    int64  `json:"updated,omitempty"`
	Endpoint   string `json:"endpoint,omitempty"` // without its path
}

// cmdPushStatus shows this device's registration as the server has it,
// with the endpoint's origin kept here for Web Push.
func cmdPushStatus(ctx context.Context, a *app, args []string) error {
	if _, err := a.parse(a.flagSet("push status"), args, 0, 0); err != nil {
		return err
	}
	st, cl, err := a.deviceClient(ctx)
	if err != nil {
		return err
	}
	s, err := cl.Push(ctx)
	if client.IsCode(err, api.CodeNotFound) {
		return a.printer().result(pushStatusJSON{}, "this device has no push registration")
	}
	if err != nil {
		return fmt.Errorf("push status: %w", err)
	}
	out := pushStatusJSON{Registered: true, Kind: s.Kind, Created: s.Created, Updated: s.Updated}
	where := ""
	if kept, err := st.Push(ctx); err == nil && kept.Kind == s.Kind && kept.Endpoint != "" {
		out.Endpoint = endpointOrigin(kept.Endpoint.Reveal())
		where = " at " + out.Endpoint
	}
	return a.printer().result(out, "woken by %s%s (registered %s, updated %s)", kindName(s.Kind), where,
		formatTime(s.Created*1000), formatTime(s.Updated*1000))
}

// cmdPushUnregister removes this device's registration: it is no longer
// woken.
func cmdPushUnregister(ctx context.Context, a *app, args []string) error {
	if _, err := a.parse(a.flagSet("push unregister"), args, 0, 0); err != nil {
		return err
	}
	st, cl, err := a.deviceClient(ctx)
	if err != nil {
		return err
	}
	if err := unregisterPush(ctx, st, cl); err != nil {
		return err
	}
	return a.printer().result(map[string]any{"registered": false}, "push registration removed")
}

// cmdPushVAPID prints the server's VAPID public key: the application
// server key to subscribe with at a UnifiedPush distributor.
func cmdPushVAPID(ctx context.Context, a *app, args []string) error {
	if _, err := a.parse(a.flagSet("push vapid"), args, 0, 0); err != nil {
		return err
	}
	_, cl, err := a.deviceClient(ctx)
	if err != nil {
		return err
	}
	v, err := cl.PushVAPID(ctx)
	if client.IsCode(err, api.CodePushUnavailable) {
		return fmt.Errorf("this server does not send Web Push wake-ups: %w", err)
	}
	if err != nil {
		return fmt.Errorf("push vapid: %w", err)
	}
	return a.printer().result(v, "%s", v.PublicKey)
}

// cmdPushListen makes this process the device's UnifiedPush distributor:
// it serves a Web Push endpoint at a secret path, registers it with fresh
// keys, drains what waits, and then drains again on every wake-up, until
// interrupted. On its way out it removes the registration, whose endpoint
// is then gone.
func cmdPushListen(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("push listen")
	addr := fs.String("listen", "127.0.0.1:0", "address to serve the push endpoint on")
	base := fs.String("url", "", "base URL hushd reaches this listener at (default http://ADDR)")
	idle := fs.Duration("timeout", 0, "after each backlog, wait this long for new messages")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *idle < 0 {
		return usageErrorf("push listen: --timeout must not be negative")
	}
	m, err := a.messenger(ctx)
	if err != nil {
		return err
	}
	a.checkPreKeys(ctx, m)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("push listen: %w", err)
	}
	b, err := listenerBase(ln.Addr(), *base)
	if err != nil {
		ln.Close()
		return err
	}
	// Serve before registering: a wake-up may follow at once.
	secret := rand.Text()
	keys, err := newPushKeys()
	if err != nil {
		ln.Close()
		return err
	}
	d := newDistributor(secret, keys, a.stderr)
	stop := serveDistributor(ln, d)
	defer stop()
	reg := &api.PushRegistration{Kind: api.PushWebPush, Endpoint: b + d.path}
	if err := registerPush(ctx, m.st, m.cl, reg, keys); err != nil {
		return err
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
		defer cancel()
		if err := unregisterPush(uctx, m.st, m.cl); err != nil {
			fmt.Fprintf(a.stderr, "hush: warning: %s (run \"hush push unregister\")\n", oneLine(err.Error()))
			return
		}
		fmt.Fprintln(a.stderr, "push registration removed")
	}()
	fmt.Fprintf(a.stderr, "listening for wake-ups at %s (interrupt to stop; the registration is removed then)\n", b+"/push/…")
	l := &pushListener{a: a, m: m, wakes: d.wakes, idle: *idle}
	return l.run(ctx)
}
