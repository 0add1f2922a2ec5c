package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/client"
	"github.com/hushmsg/hush/signal"
)

// messenger opens this device's store and returns a messenger for it.
func (a *app) messenger(ctx context.Context) (*messenger, error) {
	st, acct, err := a.account(ctx)
	if err != nil {
		return nil, err
	}
	cl, err := a.device(acct)
	if err != nil {
		return nil, err
	}
	return newMessenger(st, cl, acct, a.stderr)
}

// checkPreKeys refills prekeys when low; a failure is a warning, since the
// command can do its work without.
func (a *app) checkPreKeys(ctx context.Context, m *messenger) {
	if err := m.checkPreKeys(ctx); err != nil {
		if client.IsCode(err, api.CodeUnauthorized) {
			return // the command itself will say so
		}
		fmt.Fprintf(a.stderr, "hush: warning: %s\n", oneLine(err.Error()))
	}
}

// messengerTo opens the messenger, tops up prekeys, and resolves TO.
func (a *app) messengerTo(ctx context.Context, to string) (*messenger, string, error) {
	m, dest, err := a.messengerFor(ctx, to)
	if err != nil {
		return nil, "", err
	}
	a.checkPreKeys(ctx, m)
	return m, dest, nil
}

// messengerFor opens the messenger and resolves TO, without touching the
// prekeys (for commands that only look something up).
func (a *app) messengerFor(ctx context.Context, to string) (*messenger, string, error) {
	m, err := a.messenger(ctx)
	if err != nil {
		return nil, "", err
	}
	dest, err := m.resolve(ctx, to)
	if err != nil {
		return nil, "", err
	}
	return m, dest, nil
}

// messengerGroup opens the messenger, tops up prekeys, and resolves a
// group id (or a unique prefix of a known one).
func (a *app) messengerGroup(ctx context.Context, group string) (*messenger, string, error) {
	m, err := a.messenger(ctx)
	if err != nil {
		return nil, "", err
	}
	a.checkPreKeys(ctx, m)
	id, err := m.resolveGroup(ctx, group)
	if err != nil {
		return nil, "", err
	}
	return m, id, nil
}

// cmdSend sends one text, location or media message, to an account or a
// group. Media is encrypted and uploaded first; the message carries the
// pointer, key and digest, and the text as a caption.
func cmdSend(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("send")
	var f sendFlags
	fs.StringVar(&f.group, "group", "", "send to this group")
	fs.StringVar(&f.location, "location", "", "send the location LAT,LON[,LABEL]")
	fs.StringVar(&f.image, "image", "", "send the image at this path (with a thumbnail)")
	fs.StringVar(&f.video, "video", "", "send the video at this path")
	fs.StringVar(&f.file, "file", "", "send the file at this path")
	pos, err := a.parse(fs, args, 0, -1)
	if err != nil {
		return err
	}
	to, c, media, err := messageArgs(pos, f)
	if err != nil {
		return err
	}
	if media != "" {
		if _, err := os.Stat(media); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
	var (
		m    *messenger
		dest string
		res  *api.SendResult
	)
	if f.group != "" {
		m, dest, err = a.messengerGroup(ctx, f.group)
	} else {
		m, dest, err = a.messengerTo(ctx, to)
	}
	if err != nil {
		return err
	}
	if media != "" {
		t, err := a.transfers(m)
		if err != nil {
			return err
		}
		if c.Attachment, err = t.upload(ctx, c.Kind, media); err != nil {
			return fmt.Errorf("send %s: %w", media, err)
		}
	}
	if f.group != "" {
		if res, err = m.sendGroup(ctx, dest, c, false, m.rest()); err != nil {
			return fmt.Errorf("send to group %s: %w", dest, err)
		}
	} else if res, err = m.sendMessage(ctx, dest, c, m.rest()); err != nil {
		return fmt.Errorf("send to %s: %w", m.display(ctx, dest), err)
	}
	out := map[string]any{"id": res.ID, "server_timestamp": res.ServerTimestamp, "destination": dest}
	if f.group != "" {
		out = map[string]any{"id": res.ID, "server_timestamp": res.ServerTimestamp, "group": dest}
	}
	if c.Attachment != nil {
		out["attachment"] = map[string]any{"id": c.Attachment.ID, "file_name": c.Attachment.FileName, "size": c.Attachment.Size, "content_type": c.Attachment.ContentType}
	}
	return a.printer().result(out, "sent %s at %s", res.ID, formatTime(res.ServerTimestamp))
}

// sendFlags are send's flags that shape the message.
type sendFlags struct {
	group, location    string
	image, video, file string
}

// media returns the kind and path of the media flag given, if any; more
// than one is a usage error.
func (f sendFlags) media() (kind, path string, err error) {
	for _, m := range []struct{ kind, path string }{{kindImage, f.image}, {kindVideo, f.video}, {kindFile, f.file}} {
		if m.path == "" {
			continue
		}
		if path != "" {
			return "", "", usageErrorf("send: give one of --image, --video and --file")
		}
		kind, path = m.kind, m.path
	}
	return kind, path, nil
}

// messageArgs reads send's positional arguments: TO (unless --group) and
// the text (unless --location; a caption with media). It returns the
// media file to upload, if any.
func messageArgs(pos []string, f sendFlags) (string, *content, string, error) {
	to := ""
	if f.group == "" {
		if len(pos) == 0 {
			return "", nil, "", usageErrorf("send: missing arguments (TO, or --group G)")
		}
		to, pos = pos[0], pos[1:]
	}
	text := strings.Join(pos, " ")
	kind, media, err := f.media()
	switch {
	case err != nil:
		return "", nil, "", err
	case media != "" && f.location != "":
		return "", nil, "", usageErrorf("send: --location takes no --%s", kind)
	case media != "":
		if len(text) > maxBody {
			return "", nil, "", usageErrorf("send: caption longer than %d bytes", maxBody)
		}
		return to, &content{Kind: kind, Body: strings.TrimSpace(text)}, media, nil
	case f.location == "":
		if len(pos) == 0 {
			return "", nil, "", usageErrorf("send: missing arguments (TEXT, --location LAT,LON, or --image, --video or --file PATH)")
		}
		return to, &content{Kind: kindText, Body: text}, "", checkText(text)
	}
	if len(pos) > 0 {
		return "", nil, "", usageErrorf("send: --location takes no text (put a label after LAT,LON)")
	}
	l, err := parseLocation(f.location)
	if err != nil {
		return "", nil, "", usageErrorf("send: --location: %v", err)
	}
	return to, &content{Kind: kindLocation, Location: l}, "", nil
}

func checkText(text string) error {
	switch {
	case strings.TrimSpace(text) == "":
		return usageErrorf("send: empty message")
	case len(text) > maxBody:
		return usageErrorf("send: message longer than %d bytes", maxBody)
	}
	return nil
}

// cmdReceive receives, prints and acks every waiting message, then stops
// once nothing new has come for --timeout.
func cmdReceive(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("receive")
	timeout := fs.Duration("timeout", 0, "after the backlog, wait this long for new messages")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *timeout < 0 {
		return usageErrorf("receive: --timeout must not be negative")
	}
	m, err := a.messenger(ctx)
	if err != nil {
		return err
	}
	a.checkPreKeys(ctx, m)
	in := newInbox(a, m)
	if err := in.run(ctx, true, *timeout); err != nil {
		return err
	}
	if in.failed > 0 {
		return &codedError{code: exitUndecryptable, err: fmt.Errorf("%d message(s) could not be decrypted; their senders were asked to send them again", in.failed)}
	}
	return nil
}

// cmdChat sends each line typed on stdin to TO (or a group) and prints
// incoming messages as they come, over one socket, until /quit or end of
// input. It follows TO's presence and acknowledges the conversation's
// messages as read.
func cmdChat(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("chat")
	group := fs.String("group", "", "chat in this group")
	pos, err := a.parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	if (*group == "") == (len(pos) == 0) {
		return usageErrorf("chat: name either TO or --group G")
	}
	var (
		m    *messenger
		dest string
	)
	if *group != "" {
		m, dest, err = a.messengerGroup(ctx, *group)
	} else {
		m, dest, err = a.messengerTo(ctx, pos[0])
	}
	if err != nil {
		return err
	}
	in := newInbox(a, m)
	name := m.display(ctx, dest)
	if *group != "" {
		in.readGroup, name = dest, "group "+shortGroup(dest)
	} else {
		in.readPeer = dest
		if dest != m.me.AccountID {
			in.follow = []string{dest}
		}
	}
	fmt.Fprintf(a.stderr, "chatting with %s; type a message and Enter, /quit to end\n", name)
	send := func(ctx context.Context, line string) error {
		if *group != "" {
			_, err := m.sendGroup(ctx, dest, &content{Kind: kindText, Body: line}, false, in)
			return err
		}
		_, err := m.sendText(ctx, dest, line, in)
		return err
	}
	return chatLoop(ctx, a, in, send)
}

// chatLoop runs the inbox and sends each line of stdin with send.
func chatLoop(ctx context.Context, a *app, in *inbox, send func(context.Context, string) error) error {
	ictx, stop := context.WithCancel(ctx)
	defer stop()
	inboxDone := make(chan error, 1)
	go func() { inboxDone <- in.run(ictx, false, 0) }()

	// Reading stdin cannot be interrupted; the reader ends with the process.
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(a.stdin)
		sc.Buffer(make([]byte, 0, 4096), maxBody+1)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ictx.Done():
				return
			}
		}
	}()
	for {
		select {
		case err := <-inboxDone:
			return err
		case line, ok := <-lines:
			if !ok || strings.TrimSpace(line) == "/quit" {
				stop()
				if err := <-inboxDone; err != nil && !errors.Is(err, context.Canceled) {
					return err
				}
				return ctx.Err()
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			if err := checkText(line); err != nil {
				fmt.Fprintf(a.stderr, "hush: not sent: %v\n", err)
				continue
			}
			if err := send(ictx, line); err != nil {
				if errors.Is(err, context.Canceled) {
					continue // the inbox ended; its error comes next
				}
				fmt.Fprintf(a.stderr, "hush: not sent: %s\n", oneLine(err.Error()))
			}
		}
	}
}

// cmdSafetyNumber prints the safety number with TO's account.
func cmdSafetyNumber(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("safety-number")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	m, dest, err := a.messengerFor(ctx, pos[0])
	if err != nil {
		return err
	}
	key, err := m.identityOf(ctx, dest)
	if err != nil {
		return err
	}
	sn, err := safetyNumber(m.me.AccountID, m.me.Identity.Public, dest, key)
	if err != nil {
		return err
	}
	return a.printer().result(
		map[string]any{"account_id": dest, "safety_number": sn},
		"%s", groupDigits(sn))
}

// identityOf returns the trusted identity key of an account, starting
// sessions with its devices (which fetches and trusts the key) when none
// is known yet.
func (m *messenger) identityOf(ctx context.Context, acct string) (signal.IdentityKey, error) {
	if acct == m.me.AccountID {
		return m.me.Identity.Public, nil
	}
	key, err := m.st.TrustedIdentity(ctx, acct)
	if err == nil && key == nil {
		m.mu.Lock()
		err = m.st.InTx(ctx, func(ctx context.Context) error {
			return m.fetchBundlesLocked(ctx, acct, client.AllDevices)
		})
		m.mu.Unlock()
		if err == nil {
			key, err = m.st.TrustedIdentity(ctx, acct)
		}
		if err == nil && key == nil {
			err = errors.New("no identity key known for " + m.display(ctx, acct))
		}
	}
	if err != nil {
		return signal.IdentityKey{}, err
	}
	return signal.ParseIdentityKey(key)
}
