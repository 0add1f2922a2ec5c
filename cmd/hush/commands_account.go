package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hushmsg/hush/cmd/hush/internal/provision"
	"github.com/hushmsg/hush/cmd/hush/internal/store"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
	"github.com/hushmsg/hush/signal"
)

// cmdRegister registers a phone number as a new account with this device
// as its primary.
func cmdRegister(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("register")
	code := fs.String("code", "", "verification code (without it, one is requested)")
	name := fs.String("name", "", "a name for this device")
	pin := fs.String("pin", "", "the account's PIN, if the number has a registration lock (scripts; prefer HUSH_PIN, or the prompt)")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	number := pos[0]
	if !isE164(number) {
		return usageErrorf("register: %q is not a phone number in E.164 form (+15551234567)", number)
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	if _, err := st.Account(); err == nil {
		return store.ErrHasAccount
	}
	cl, err := a.anonymous()
	if err != nil {
		return err
	}
	if *code == "" {
		if *code, err = requestCode(ctx, a, cl, number); err != nil {
			return err
		}
	}
	ident, err := newIdentity()
	if err != nil {
		return err
	}
	dk, err := newDeviceKeys(ctx, st, ident)
	if err != nil {
		return err
	}
	verify := &api.Verify{Number: number, Code: *code, IdentityKey: ident.Public.Bytes(), DeviceKeys: dk.api(*name)}
	creds, err := cl.Verify(ctx, verify)
	if locked := client.RegistrationLocked(err); locked != nil {
		creds, err = unlock(ctx, a, cl, verify, locked, *pin)
	}
	switch {
	case client.IsCode(err, api.CodeInvalidCode):
		return fmt.Errorf("register %s: wrong or expired code", number)
	case client.IsCode(err, api.CodeTooManyAttempts):
		return fmt.Errorf("register %s: tried too often: %w", number, err)
	case err != nil:
		return fmt.Errorf("register %s: %w", number, err)
	}
	acct := &store.Account{
		AccountID: creds.AccountID, DeviceID: creds.DeviceID, Password: store.Secret(creds.Password),
		Number: number, Identity: ident, RegistrationID: dk.registrationID,
	}
	if err := dk.save(ctx, st, acct); err != nil {
		return err
	}
	if err := finishDevice(ctx, a, st, acct); err != nil {
		return err
	}
	return a.printer().result(
		map[string]any{"account_id": acct.AccountID, "device_id": acct.DeviceID, "number": acct.Number},
		"registered %s: account %s, device %d", acct.Number, acct.AccountID, acct.DeviceID)
}

// requestCode asks the server to send a code, then reads it from a
// terminal, or ends with exit code 3 when stdin is not one.
func requestCode(ctx context.Context, a *app, cl *client.Client, number string) (string, error) {
	res, err := cl.RequestCode(ctx, number)
	if err != nil {
		return "", fmt.Errorf("request a code for %s: %w", number, err)
	}
	if !a.stdinTTY {
		return "", needInputf("code sent to %s (valid %d min); run again with --code CODE", number, res.ExpiresIn/60)
	}
	fmt.Fprintf(a.stderr, "A code was sent to %s (valid %d min). Code: ", number, res.ExpiresIn/60)
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	if line = strings.TrimSpace(line); line == "" {
		return "", needInputf("no code entered; run again with --code CODE")
	}
	return line, nil
}

// finishDevice uploads the first batches of one-time prekeys of a device
// just registered or linked.
func finishDevice(ctx context.Context, a *app, st *store.Store, acct *store.Account) error {
	cl, err := a.device(acct)
	if err != nil {
		return err
	}
	m, err := newMessenger(st, cl, acct, a.stderr)
	if err != nil {
		return err
	}
	if err := m.uploadPreKeys(ctx, preKeyBatch, preKeyBatch); err != nil {
		return fmt.Errorf("%w (the device exists; \"hush receive\" uploads them later)", err)
	}
	return nil
}

// cmdLink makes this home a new device of an existing account: it shows a
// link code, waits for the primary to approve it, then links.
func cmdLink(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("link")
	name := fs.String("name", "", "a name for this device")
	timeout := fs.Duration("timeout", 3*time.Minute, "how long to wait for the primary's approval (the server keeps the address 3 minutes by default)")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	if _, err := st.Account(); err == nil {
		return store.ErrHasAccount
	}
	cl, err := a.anonymous()
	if err != nil {
		return err
	}
	eph, err := provision.NewEphemeral()
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	ps, err := cl.DialProvisioning(wctx)
	if err != nil {
		return fmt.Errorf("open provisioning socket: %w", err)
	}
	defer ps.Close()
	if err := a.printer().linef("%s", eph.LinkCode(ps.Address)); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "On your primary device run: hush approve '%s'\nWaiting up to %s...\n", eph.LinkCode(ps.Address), *timeout)
	body, err := ps.Wait(wctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("link: no approval within %s", *timeout)
	}
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	msg, err := eph.OpenMessage(body)
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	ident, err := store.IdentityKeyPair(msg.IdentityKeyPublic, msg.IdentityKeyPrivate)
	clear(msg.IdentityKeyPrivate)
	if err != nil {
		return fmt.Errorf("link: provisioning message: %w", err)
	}
	dk, err := newDeviceKeys(ctx, st, ident)
	if err != nil {
		return err
	}
	creds, err := cl.Link(ctx, &api.Link{AccountID: msg.AccountID, ProvisioningCode: msg.ProvisioningCode, DeviceKeys: dk.api(*name)})
	switch {
	case client.IsCode(err, api.CodeInvalidCode):
		return errors.New("link: the provisioning code was refused (expired or used); approve again")
	case client.IsCode(err, api.CodeTooManyDevices):
		return errors.New("link: the account has its maximum number of devices; remove one first")
	case err != nil:
		return fmt.Errorf("link: %w", err)
	}
	acct := &store.Account{
		AccountID: creds.AccountID, DeviceID: creds.DeviceID, Password: store.Secret(creds.Password),
		Number: msg.Number, Identity: ident, RegistrationID: dk.registrationID,
	}
	if err := dk.save(ctx, st, acct); err != nil {
		return err
	}
	if err := finishDevice(ctx, a, st, acct); err != nil {
		return err
	}
	return a.printer().result(
		map[string]any{"account_id": acct.AccountID, "device_id": acct.DeviceID, "number": acct.Number},
		"linked as device %d of %s (account %s)", acct.DeviceID, acct.Number, acct.AccountID)
}

// cmdApprove sends this account's identity key pair and a provisioning
// code, encrypted, to the device that showed a link code.
func cmdApprove(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("approve")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	code, err := provision.ParseLinkCode(pos[0])
	if err != nil {
		return usageErrorf("approve: %v", err)
	}
	_, acct, err := a.account(ctx)
	if err != nil {
		return err
	}
	if !acct.Primary() {
		return fmt.Errorf("approve: only the primary device (device 1) can link devices; this is device %d", acct.DeviceID)
	}
	cl, err := a.device(acct)
	if err != nil {
		return err
	}
	pc, err := cl.ProvisioningCode(ctx)
	if err != nil {
		return fmt.Errorf("approve: provisioning code: %w", err)
	}
	priv := acct.Identity.Private.Bytes()
	msg := &provision.Message{
		AccountID: acct.AccountID, Number: acct.Number,
		IdentityKeyPublic: acct.Identity.Public.Bytes(), IdentityKeyPrivate: priv,
		ProvisioningCode: pc.Code,
	}
	body, err := provision.SealMessage(code, msg)
	clear(priv)
	if err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	err = cl.Provision(ctx, code.Address, body)
	if client.IsCode(err, api.CodeNotFound) {
		return errors.New("approve: no device waits at that link code (it expired, was used, or the new device stopped)")
	}
	if err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	return a.printer().result(map[string]any{"approved": true, "address": code.Address},
		"approved; the new device is linking now")
}

// cmdWhoami prints this device's account id, device id and number.
func cmdWhoami(ctx context.Context, a *app, args []string) error {
	if _, err := a.parse(a.flagSet("whoami"), args, 0, 0); err != nil {
		return err
	}
	_, acct, err := a.account(ctx)
	if err != nil {
		return err
	}
	return a.printer().result(
		map[string]any{"account_id": acct.AccountID, "device_id": acct.DeviceID, "number": acct.Number, "server": a.g.server},
		"account %s\ndevice  %d\nnumber  %s", acct.AccountID, acct.DeviceID, acct.Number)
}

// cmdDevices lists the account's devices, or removes one with
// "devices remove ID".
func cmdDevices(ctx context.Context, a *app, args []string) error {
	pos, err := a.parse(a.flagSet("devices"), args, 0, 2)
	if err != nil {
		return err
	}
	st, acct, err := a.account(ctx)
	if err != nil {
		return err
	}
	cl, err := a.device(acct)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return listDevices(ctx, a, cl, acct)
	case pos[0] == "remove" && len(pos) == 2:
		id, err := strconv.ParseUint(pos[1], 10, 32)
		if err != nil || id == 0 {
			return usageErrorf("devices remove: %q is not a device id", pos[1])
		}
		return removeDevice(ctx, a, st, cl, acct, uint32(id))
	}
	return usageErrorf("devices: want no arguments, or \"remove ID\"")
}

func listDevices(ctx context.Context, a *app, cl *client.Client, acct *store.Account) error {
	devs, err := cl.Devices(ctx)
	if err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	p := a.printer()
	if p.json {
		return p.jsonLine(map[string]any{"devices": devs, "this_device": acct.DeviceID})
	}
	for _, d := range devs {
		var notes []string
		if d.DeviceID == acct.DeviceID {
			notes = append(notes, "this device")
		}
		if d.DeviceID == 1 {
			notes = append(notes, "primary")
		}
		note := ""
		if len(notes) > 0 {
			note = " (" + strings.Join(notes, ", ") + ")"
		}
		name := d.Name
		if name == "" {
			name = "-"
		}
		if err := p.linef("%3d  %-20s  created %s  last seen %s%s", d.DeviceID, name,
			day(d.Created), day(d.LastSeen), note); err != nil {
			return err
		}
	}
	return nil
}

func day(unix int64) string {
	if unix == 0 {
		return "never     "
	}
	return time.Unix(unix, 0).UTC().Format("2006-01-02")
}

func removeDevice(ctx context.Context, a *app, st *store.Store, cl *client.Client, acct *store.Account, id uint32) error {
	err := cl.RemoveDevice(ctx, id)
	switch {
	case client.IsCode(err, api.CodeForbidden):
		return fmt.Errorf("devices remove: not allowed: the primary removes other devices, any device removes itself, and the primary cannot be removed")
	case client.IsCode(err, api.CodeNotFound):
		return fmt.Errorf("devices remove: the account has no device %d", id)
	case err != nil:
		return fmt.Errorf("devices remove: %w", err)
	}
	msg := fmt.Sprintf("device %d removed", id)
	if id == acct.DeviceID {
		msg += "; this home's credential no longer works"
	} else if err := st.ArchiveSession(ctx, signal.ProtocolAddress{Name: acct.AccountID, DeviceID: id}); err != nil {
		return err
	}
	return a.printer().result(map[string]any{"removed": id}, "%s", msg)
}
