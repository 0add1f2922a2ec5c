package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
)

// groupCommands are the subcommands of "hush group".
var groupCommands = map[string]func(ctx context.Context, a *app, args []string) error{
	"create":  cmdGroupCreate,
	"list":    cmdGroupList,
	"show":    cmdGroupShow,
	"add":     cmdGroupAdd,
	"remove":  cmdGroupRemove,
	"promote": cmdGroupPromote,
	"leave":   cmdGroupLeave,
}

// cmdGroup dispatches "hush group SUBCOMMAND".
func cmdGroup(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usageErrorf("group: missing subcommand (create, list, show, add, remove, promote, leave)")
	}
	run, ok := groupCommands[args[0]]
	if !ok {
		return usageErrorf("group: unknown subcommand %q", args[0])
	}
	return run(ctx, a, args[1:])
}

// groupArgs parses a group subcommand's arguments and opens the
// messenger; with needGroup the first positional argument is G, resolved
// to a group id.
func (a *app) groupArgs(ctx context.Context, name string, args []string, minPos, maxPos int, needGroup bool) (*messenger, string, []string, error) {
	fs := a.flagSet("group " + name)
	pos, err := a.parse(fs, args, minPos, maxPos)
	if err != nil {
		return nil, "", nil, err
	}
	m, err := a.messenger(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	if !needGroup {
		return m, "", pos, nil
	}
	id, err := m.resolveGroup(ctx, pos[0])
	if err != nil {
		return nil, "", nil, err
	}
	return m, id, pos[1:], nil
}

// resolveMembers turns numbers and account ids into account ids, without
// duplicates and without this account.
func (m *messenger) resolveMembers(ctx context.Context, args []string) ([]string, error) {
	var ids []string
	for _, arg := range args {
		id, err := m.resolve(ctx, arg)
		if err != nil {
			return nil, err
		}
		if id != m.me.AccountID && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// groupError words the server's refusals of a group route.
func groupError(err error, groupID, what string) error {
	switch {
	case client.IsCode(err, api.CodeForbidden):
		return fmt.Errorf("%s: only an admin of group %s may do that", what, groupID)
	case client.IsCode(err, api.CodeNotFound):
		return fmt.Errorf("%s: no group %s, or this account (or the account named) is not a member", what, groupID)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// cmdGroupCreate creates a group with this account as admin and prints
// its id.
func cmdGroupCreate(ctx context.Context, a *app, args []string) error {
	m, _, pos, err := a.groupArgs(ctx, "create", args, 0, -1, false)
	if err != nil {
		return err
	}
	members, err := m.resolveMembers(ctx, pos)
	if err != nil {
		return err
	}
	g, err := m.cl.CreateGroup(ctx, members)
	if err != nil {
		return fmt.Errorf("create group: %w", err)
	}
	if err := m.saveGroup(ctx, g); err != nil {
		return err
	}
	return a.printer().result(m.groupJSON(ctx, g), "%s", g.GroupID)
}

// cmdGroupList lists this account's groups.
func cmdGroupList(ctx context.Context, a *app, args []string) error {
	m, _, _, err := a.groupArgs(ctx, "list", args, 0, 0, false)
	if err != nil {
		return err
	}
	list, err := m.cl.Groups(ctx)
	if err != nil {
		return fmt.Errorf("list groups: %w", err)
	}
	for _, g := range list {
		err := a.printer().result(map[string]any{"group_id": g.GroupID, "version": g.Version, "role": g.Role},
			"%s  version %d  %s", g.GroupID, g.Version, g.Role)
		if err != nil {
			return err
		}
	}
	return nil
}

// cmdGroupShow prints a group's members.
func cmdGroupShow(ctx context.Context, a *app, args []string) error {
	m, id, _, err := a.groupArgs(ctx, "show", args, 1, 1, true)
	if err != nil {
		return err
	}
	g, err := m.refreshGroup(ctx, id)
	if err != nil {
		return err
	}
	return a.printGroup(ctx, m, g)
}

// cmdGroupAdd adds members (admins only).
func cmdGroupAdd(ctx context.Context, a *app, args []string) error {
	m, id, pos, err := a.groupArgs(ctx, "add", args, 2, -1, true)
	if err != nil {
		return err
	}
	members, err := m.resolveMembers(ctx, pos)
	if err != nil {
		return err
	}
	if len(members) == 0 {
		return usageErrorf("group add: name members other than this account")
	}
	g, err := m.cl.AddMembers(ctx, id, members)
	if err != nil {
		return groupError(err, id, "add members")
	}
	if err := m.saveGroup(ctx, g); err != nil {
		return err
	}
	return a.printGroup(ctx, m, g)
}

// cmdGroupRemove removes a member (admins only); this device's sender key
// is rotated at once.
func cmdGroupRemove(ctx context.Context, a *app, args []string) error {
	m, id, pos, err := a.groupArgs(ctx, "remove", args, 2, 2, true)
	if err != nil {
		return err
	}
	acct, err := m.resolve(ctx, pos[0])
	if err != nil {
		return err
	}
	if acct == m.me.AccountID {
		return usageErrorf("group remove: use \"hush group leave\" to leave a group")
	}
	if err := m.cl.RemoveMember(ctx, id, acct); err != nil {
		return groupError(err, id, "remove "+m.display(ctx, acct))
	}
	g, err := m.refreshGroup(ctx, id)
	if err != nil {
		return err
	}
	return a.printGroup(ctx, m, g)
}

// cmdGroupPromote makes a member an admin (admins only).
func cmdGroupPromote(ctx context.Context, a *app, args []string) error {
	m, id, pos, err := a.groupArgs(ctx, "promote", args, 2, 2, true)
	if err != nil {
		return err
	}
	acct, err := m.resolve(ctx, pos[0])
	if err != nil {
		return err
	}
	g, err := m.cl.Promote(ctx, id, acct)
	if err != nil {
		return groupError(err, id, "promote "+m.display(ctx, acct))
	}
	if err := m.saveGroup(ctx, g); err != nil {
		return err
	}
	return a.printGroup(ctx, m, g)
}

// cmdGroupLeave leaves a group and forgets its keys.
func cmdGroupLeave(ctx context.Context, a *app, args []string) error {
	m, id, _, err := a.groupArgs(ctx, "leave", args, 1, 1, true)
	if err != nil {
		return err
	}
	if err := m.cl.RemoveMember(ctx, id, m.me.AccountID); err != nil {
		return groupError(err, id, "leave")
	}
	if err := m.forgetGroup(ctx, id); err != nil {
		return err
	}
	return a.printer().result(map[string]any{"group_id": id, "left": true}, "left group %s", id)
}

// forgetGroup records that this account left a group.
func (m *messenger) forgetGroup(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.InTx(ctx, func(ctx context.Context) error {
		return m.updateGroupLocked(ctx, id, 0, nil, []string{m.me.AccountID})
	})
}

// groupJSON is a group as --json prints it, with members' numbers where
// known.
func (m *messenger) groupJSON(ctx context.Context, g *api.Group) map[string]any {
	members := make([]map[string]any, 0, len(g.Members))
	for _, mem := range g.Members {
		number, _ := m.st.ContactNumber(ctx, mem.AccountID)
		members = append(members, map[string]any{"account_id": mem.AccountID, "number": number, "role": mem.Role, "joined": mem.Joined})
	}
	return map[string]any{"group_id": g.GroupID, "version": g.Version, "members": members}
}

// printGroup prints a group and its members.
func (a *app) printGroup(ctx context.Context, m *messenger, g *api.Group) error {
	p := a.printer()
	if p.json {
		return p.jsonLine(m.groupJSON(ctx, g))
	}
	lines := []string{fmt.Sprintf("group %s, version %d, %d members:", g.GroupID, g.Version, len(g.Members))}
	for _, mem := range g.Members {
		who := m.display(ctx, mem.AccountID)
		if mem.AccountID == m.me.AccountID {
			who += " (you)"
		}
		lines = append(lines, fmt.Sprintf("  %s  %s", who, mem.Role))
	}
	return p.linef("%s", strings.Join(lines, "\n"))
}
