// Command hush is the reference command-line client of Hush: it registers
// or links a device, keeps its Signal-protocol state in a local SQLite
// store, and sends and receives end-to-end encrypted messages.
//
// main only parses the command line and dispatches; every command lives in
// a commands_*.go file.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], newEnv())
	stop()
	os.Exit(report(os.Stderr, err))
}

// run parses the global flags and runs the command the arguments name.
func run(ctx context.Context, args []string, e *env) error {
	a := &app{env: e, g: defaultGlobals(e.getenv)}
	fs := a.flagSet("hush")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			printUsage(e.stdout)
			return nil
		}
		return usageErrorf("%v", err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return usageErrorf("no command given")
	}
	name, args := rest[0], rest[1:]
	if name == "help" {
		printUsage(e.stdout)
		return nil
	}
	cmd, ok := commands[name]
	if !ok {
		return usageErrorf("unknown command %q", name)
	}
	defer a.close()
	return cmd.run(ctx, a, args)
}

// commands maps each command name to its implementation; usage.go holds
// the help text.
var commands = map[string]command{
	"register":       {run: cmdRegister},
	"link":           {run: cmdLink},
	"approve":        {run: cmdApprove},
	"devices":        {run: cmdDevices},
	"whoami":         {run: cmdWhoami},
	"send":           {run: cmdSend},
	"receive":        {run: cmdReceive},
	"chat":           {run: cmdChat},
	"safety-number":  {run: cmdSafetyNumber},
	"group":          {run: cmdGroup},
	"status":         {run: cmdStatus},
	"read":           {run: cmdRead},
	"typing":         {run: cmdTyping},
	"last-seen":      {run: cmdLastSeen},
	"privacy":        {run: cmdPrivacy},
	"push":           {run: cmdPush},
	"export":         {run: cmdExport},
	"delete-account": {run: cmdDeleteAccount},
	"pin":            {run: cmdPin},
}

type command struct {
	run func(ctx context.Context, a *app, args []string) error
}
