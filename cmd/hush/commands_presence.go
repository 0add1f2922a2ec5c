package main

import (
	"context"
	"fmt"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
)

// cmdLastSeen prints whether TO is online, when it was last seen, or that
// it hides this.
func cmdLastSeen(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("last-seen")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	m, acct, err := a.messengerFor(ctx, pos[0])
	if err != nil {
		return err
	}
	p, err := m.cl.LastSeen(ctx, acct)
	if client.IsCode(err, api.CodeNotFound) {
		return fmt.Errorf("%s is not registered with Hush", m.display(ctx, acct))
	}
	if err != nil {
		return fmt.Errorf("last seen of %s: %w", m.display(ctx, acct), err)
	}
	return a.printer().result(p, "%s %s", m.display(ctx, acct), describePresence(p))
}

// cmdPrivacy shows this account's privacy settings, or sets one:
// "privacy last-seen everyone|nobody".
func cmdPrivacy(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("privacy")
	pos, err := a.parse(fs, args, 0, 2)
	if err != nil {
		return err
	}
	var set *api.Privacy
	switch {
	case len(pos) == 0:
	case pos[0] != "last-seen":
		return usageErrorf("privacy: unknown setting %q (there is last-seen)", pos[0])
	case len(pos) == 1:
		return usageErrorf("privacy last-seen: say everyone or nobody")
	case pos[1] != api.VisibleEveryone && pos[1] != api.VisibleNobody:
		return usageErrorf("privacy last-seen: %q is neither everyone nor nobody", pos[1])
	default:
		set = &api.Privacy{LastSeen: pos[1]}
	}
	_, acct, err := a.account(ctx)
	if err != nil {
		return err
	}
	cl, err := a.device(acct)
	if err != nil {
		return err
	}
	p := set
	if set != nil {
		err = cl.SetPrivacy(ctx, set)
	} else {
		p, err = cl.Privacy(ctx)
	}
	if err != nil {
		return fmt.Errorf("privacy: %w", err)
	}
	return a.printer().result(p, "last-seen: %s", p.LastSeen)
}
