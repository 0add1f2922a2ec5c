package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/hushmsg/hush/gdpr"
	"github.com/hushmsg/hush/internal/server"
)

const adminUsage = `usage:
  hushd admin token create --role compliance|operator [--name NAME]
  hushd admin token list
  hushd admin token revoke ID
  hushd admin audit verify
each also takes --data DIR and --db URL (as hushd; HUSH_DATA, HUSH_DB)`

// admin runs "hushd admin ...": token and audit commands on the store
// directly (the server may be running).
func admin(ctx context.Context, args []string, out io.Writer) error {
	if len(args) < 2 {
		return errors.New(adminUsage)
	}
	cmd := args[0] + " " + args[1]
	fs := flag.NewFlagSet("hushd admin "+cmd, flag.ContinueOnError)
	data := fs.String("data", server.Defaults().DataDir, "data directory")
	db := fs.String("db", "", "PostgreSQL URL; empty: SQLite in the data directory")
	role := fs.String("role", "", "token role: compliance or operator")
	name := fs.String("name", "", "a name for the token (who holds it)")
	// Flags may come before or after the positional argument.
	var pos []string
	for rest := args[2:]; ; {
		if err := parse(fs, rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return err
	}
	store, err := server.OpenStore(ctx, *db, *data)
	if err != nil {
		return err
	}
	defer store.Close()
	g := gdpr.New(gdpr.Defaults(), store, slog.New(slog.DiscardHandler))
	switch cmd {
	case "token create":
		tok, t, err := g.CreateToken(ctx, "cli", *name, *role)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s\n", tok)
		fmt.Fprintf(os.Stderr, "token %s (%s) created; it is shown only this once\n", t.ID, t.Role)
		return nil
	case "token list":
		ts, err := g.Tokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLE\tNAME\tCREATED\tREVOKED")
		for _, t := range ts {
			revoked := "-"
			if !t.Revoked.IsZero() {
				revoked = t.Revoked.UTC().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Role, t.Name, t.Created.UTC().Format(time.DateTime), revoked)
		}
		return tw.Flush()
	case "token revoke":
		if len(pos) != 1 {
			return errors.New("hushd admin token revoke ID")
		}
		if err := g.RevokeToken(ctx, "cli", pos[0]); errors.Is(err, gdpr.ErrNotFound) {
			return fmt.Errorf("no valid token %s", pos[0])
		} else if err != nil {
			return err
		}
		fmt.Fprintf(out, "token %s revoked\n", pos[0])
		return nil
	case "audit verify":
		n, err := g.Verify(ctx)
		if err != nil {
			return fmt.Errorf("audit log does not verify after %d entries: %w", n, err)
		}
		fmt.Fprintf(out, "audit log verifies: %d entries, chain intact\n", n)
		return nil
	}
	return errors.New(adminUsage)
}
