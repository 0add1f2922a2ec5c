package main

import (
	"fmt"
	"io"
)

const usage = `hush — the reference command-line client of Hush, an end-to-end
encrypted messenger.

Usage: hush [global flags] COMMAND [arguments]

Commands:
  register PHONE [--code CODE] [--name NAME] [--pin PIN]
        register PHONE (E.164, e.g. +15551234567) with this home as its
        primary device. Without --code a code is requested: it is read from
        the terminal, or hush exits with status 3 ("run again with --code").
        If the number's account has a registration lock, its PIN is asked
        for (without echo), or taken from --pin or HUSH_PIN; the account is
        then kept. Without a lock, a number registered before becomes a new
        account: the old one, its groups and data are gone.
  pin set [--pin PIN] | pin clear
        on the primary device: set (or remove) the registration lock. While
        set, registering this number again needs the PIN, until the account
        has been inactive for 7 days. The PIN (at least 4 characters) never
        leaves the device: a token derived from it with Argon2id is sent.
  link [--name NAME] [--timeout 10m]
        make this home a new device of an existing account: prints a link
        code (hush-link:...) and waits for the primary to approve it.
  approve LINK_CODE
        on the primary device: approve the new device showing LINK_CODE.
  devices
        list the account's devices.
  devices remove ID
        remove a device (the primary removes others; a device removes itself).
  whoami
        print this device's account id, device id and number.
  export [--out FILE]
        on the primary device: download everything the server holds about
        the account (schema hush-export/1: account, devices and public
        keys, waiting messages' metadata, groups, attachment records, push
        registrations, audit events) into FILE (default
        HOME/export-YYYY-MM-DD.json), mode 0600, never overwriting a file;
        print a summary. Each export is recorded in the server's audit log.
  delete-account [--yes]
        on the primary device: erase the account on the server at once and
        for good (devices, keys, waiting messages, group memberships, which
        the groups are told of, attachments, push registrations); every
        device's credential stops working and the number may register
        again. Asks for the account's number to be typed (read from stdin;
        --yes skips it). Prints the erasure receipt, then removes this
        home's state (the store: credentials, keys, sessions, contacts,
        history) so it can register again; downloads/, exports and other
        files are kept and listed.
  send TO TEXT...
  send --group G TEXT...
        send a text message to TO (a phone number or an account id) or to
        the group G. Your own other devices get a copy. Use -- before a
        text starting with "-".
  send TO --location LAT,LON[,LABEL]
  send --group G --location LAT,LON[,LABEL]
        send a location: latitude -90..90, longitude -180..180 (degrees),
        and an optional label (quote it if it has spaces).
  send TO|--group G --image PATH [CAPTION...]
  send TO|--group G --video PATH [CAPTION...]
  send TO|--group G --file PATH [CAPTION...]
        send a file: it is encrypted with a fresh key, uploaded (progress
        on stderr), and the message carries its id, key, digest, name,
        type and size (and a small thumbnail of an image: PNG, JPEG, GIF).
        The server keeps only the encrypted blob, padded to within 5 % of
        its size, until it expires; its maximum size is the server's.
  receive [--timeout D]
        print and acknowledge waiting messages; stop when the backlog is
        delivered and nothing new came for D (default 0). Delivery receipts
        go back to the senders; receipts that come in are recorded (see
        status), not printed; typing notices are printed while connected.
        Attachments are downloaded, checked (MAC and digest) and decrypted
        into downloads/ in the home directory, under the sender's file name
        made safe, never overwriting a file ("name (1).ext"); chat does
        the same. A message that does not decrypt is reported (with
        --json, a line of kind "undecryptable") and its sender asked to
        send it again; receive then exits with status 4.
  chat TO
  chat --group G
        send each line typed to TO (or the group) and print incoming
        messages; /quit or end of input ends it. The conversation's
        messages are acknowledged as read; chat with TO shows TO's presence
        (online, last seen) and typing notices.
  read [TO | --group G]
        print the unread messages received (from TO, in the group, or all),
        send read receipts to their senders and mark them read.
  status [TO | --group G | --id ID] [--limit N]
        show the last N (default 20) messages this account sent, with each
        recipient's status: sent (the server took it), delivered, read.
  typing TO|--group G [--stop]
        tell TO (or the group) that you are typing (or stopped); only
        devices online now get it.
  group create [MEMBER...]
        create a group with you as admin and MEMBERs (numbers or account
        ids); prints the group's id. Any unique prefix of a known group's
        id names it in the commands below.
  group list
        list your groups with their version and your role.
  group show G
        show the group's members and roles.
  group add G MEMBER...
  group remove G MEMBER
  group promote G MEMBER
        change the group (admins only). After a removal every remaining
        member's device makes a new sender key the removed one never gets.
  group leave G
        leave the group.
  last-seen TO
        print whether TO is online, when TO was last seen, or that TO
        hides it.
  privacy
  privacy last-seen everyone|nobody
        show your privacy settings, or choose who may see when you were
        last seen (default nobody).
  safety-number TO
        print the 60-digit safety number with TO, to compare out of band.
  push register --unifiedpush URL
  push register --apns TOKEN [--topic T] [--sandbox]
  push register --fcm TOKEN
  push register --wns CHANNEL_URI
        have the server wake this device when a message waits for it and
        it is not connected: once per absence, with no content. For
        UnifiedPush, URL is the endpoint a distributor gave (subscribed
        with the key of push vapid); hush makes a fresh P-256 key pair and
        auth secret, keeps them here (never printed) and registers them.
        The other kinds take a token of the app's push service (testing).
        A registration replaces the device's previous one.
  push status
        show the registration the server has, if any.
  push unregister
        remove it: this device is no longer woken.
  push vapid
        print the server's VAPID public key (the application server key
        of UnifiedPush and Web Push subscriptions).
  push listen [--listen 127.0.0.1:0] [--url URL] [--timeout D]
        be this device's own UnifiedPush distributor: serve a Web Push
        endpoint on the address at a secret path, register it with fresh
        keys, fetch what waits, then wait; each wake-up (decrypted and
        checked; anything else is refused) prints "woken: fetching
        messages" and fetches the messages as receive does (print, ack,
        delivery receipts, attachments), then disconnects. --url is how
        the server reaches the listener (default http://ADDR). An http or
        private address needs hushd --webpush-allow-private. It replaces
        the device's registration; interrupting it (Ctrl-C) removes it.

Global flags (before or after the command):
  --server URL   server base URL (env HUSH_SERVER, default http://127.0.0.1:8080);
                 several nodes' URLs separated by commas: hush uses one and
                 moves to the next when it stops answering
  --home DIR     home directory holding this device's state (env HUSH_HOME,
                 default ~/.hush); one process uses a home at a time
  --json         print JSON (one object per line)

Exit status: 0 ok, 1 error, 2 usage, 3 more input needed, 4 (receive)
some messages could not be decrypted: their senders were asked to send
them again.

Cryptography: the Signal protocol as the official libsignal speaks it
today (Hush's package signal): PQXDH with signed Kyber1024 prekeys, the
Double Ratchet with the sparse post-quantum ratchet (SPQR), version-4
messages. Messages are protobuf Contents as Signal lays them out.
Identity keys are trusted on first use; a change is announced with the
new safety number (libsignal's, over the account ids). A message that
does not decrypt is reported, and its sender asked to send it again on a
new session (a DecryptionErrorMessage). Group messages are Sender Key
messages: each device sends its sender key 1:1 to the member devices
that lack it, then encrypts each message once; the group's id is inside
the encrypted content and checked on receipt.
Receipts and typing notices are end-to-end encrypted 1:1 messages, sent
as not urgent: they never wake a device by push. A Web Push wake-up is
opened as RFC 8291 says (ECDH P-256, HKDF-SHA256, AES-128-GCM) with the
key pair and auth secret made at registration; it carries no content.
Attachments follow Signal's scheme: AES-256-CBC and HMAC-SHA256 under a
fresh 64-byte key, SHA-256 digest of the blob, both sent only inside the
encrypted message.
`

func printUsage(w io.Writer) { fmt.Fprint(w, usage) }
