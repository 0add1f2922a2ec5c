package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
)

// cmdPin sets or clears the account's registration lock: "pin set" and
// "pin clear", on the primary device.
func cmdPin(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("pin")
	pinFlag := fs.String("pin", "", "the PIN (scripts; prefer HUSH_PIN, or the prompt, which does not echo)")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if pos[0] != "set" && pos[0] != "clear" {
		return usageErrorf("pin: %q is neither set nor clear", pos[0])
	}
	_, acct, err := a.account(ctx)
	if err != nil {
		return err
	}
	if !acct.Primary() {
		return fmt.Errorf("pin: only the primary device (device 1) can change the registration lock; this is device %d", acct.DeviceID)
	}
	cl, err := a.device(acct)
	if err != nil {
		return err
	}
	if pos[0] == "clear" {
		if err := cl.DeleteRegistrationLock(ctx); err != nil {
			return fmt.Errorf("pin clear: %w", err)
		}
		return a.printer().result(map[string]any{"registration_lock": false},
			"registration lock removed: %s can be registered again with an SMS code alone", acct.Number)
	}
	pin, err := a.readPIN(*pinFlag, "New PIN (at least 4 characters): ", true)
	if err != nil {
		return err
	}
	switch err := cl.SetRegistrationLock(ctx, pin); {
	case errors.Is(err, client.ErrShortPIN):
		return usageErrorf("pin set: %v", err)
	case err != nil:
		return fmt.Errorf("pin set: %w", err)
	}
	return a.printer().result(map[string]any{"registration_lock": true},
		"registration lock set: registering %s again needs this PIN while the account is active (remember it: it cannot be recovered)", acct.Number)
}

// readPIN returns the PIN from --pin, else HUSH_PIN, else the terminal
// without echo (twice when confirm), else exit 3.
func (a *app) readPIN(flagValue, prompt string, confirm bool) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if v := a.getenv("HUSH_PIN"); v != "" {
		return v, nil
	}
	if !a.stdinTTY {
		return "", needInputf("a PIN is needed: give --pin PIN or HUSH_PIN, or run in a terminal")
	}
	pin, err := a.readSecretLine(prompt)
	if err != nil {
		return "", err
	}
	if confirm {
		again, err := a.readSecretLine("The same PIN again: ")
		if err != nil {
			return "", err
		}
		if again != pin {
			return "", usageErrorf("the two PINs differ")
		}
	}
	return pin, nil
}

// readSecretLine prompts on stderr and reads a line from the terminal
// without echoing it.
func (a *app) readSecretLine(prompt string) (string, error) {
	fmt.Fprint(a.stderr, prompt)
	defer fmt.Fprintln(a.stderr)
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		if err != nil {
			return "", fmt.Errorf("read PIN: %w", err)
		}
		return string(b), nil
	}
	// Byte by byte, so that nothing after the line is taken from stdin.
	var line []byte
	b := make([]byte, 1)
	for len(line) < 1024 {
		n, err := a.stdin.Read(b)
		if n == 1 && b[0] == '\n' {
			break
		}
		if n == 1 {
			line = append(line, b[0])
		}
		if err != nil {
			break
		}
	}
	if len(line) == 0 {
		return "", needInputf("no PIN entered")
	}
	return strings.TrimRight(string(line), "\r"), nil
}

// unlock answers a 423 registration_locked: it derives the token from the
// PIN and the salt the server gave, and verifies again with it.
func unlock(ctx context.Context, a *app, cl *client.Client, v *api.Verify, locked *api.RegistrationLocked, pinFlag string) (*api.Credentials, error) {
	days := (locked.TimeRemaining + 86399) / 86400
	if pinFlag == "" && a.getenv("HUSH_PIN") == "" && a.stdinTTY {
		fmt.Fprintf(a.stderr, "%s has a registration lock: enter the account's PIN (%d tries left; without the PIN the number can register again in %d days of the account's inactivity).\n",
			v.Number, locked.AttemptsRemaining, days)
	}
	pin, err := a.readPIN(pinFlag, "PIN: ", false)
	if err != nil {
		return nil, fmt.Errorf("register %s: the number has a registration lock: %w", v.Number, err)
	}
	if v.RegistrationLock, err = client.RegistrationLockToken(pin, locked.Salt); err != nil {
		return nil, fmt.Errorf("register %s: %w", v.Number, err)
	}
	creds, err := cl.Verify(ctx, v)
	if again := client.RegistrationLocked(err); again != nil {
		return nil, fmt.Errorf("register %s: wrong PIN (%d tries left today)", v.Number, again.AttemptsRemaining)
	}
	return creds, err
}
