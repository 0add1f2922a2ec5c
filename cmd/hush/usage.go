package main

import (
	"fmt"
	"io"
)

const usage = `hush — the reference command-line client of Hush, an end-to-end
encrypted messenger.

Usage: hush [global flags] COMMAND [arguments]

Commands:
  register PHONE [--code CODE] [--name NAME]
        register PHONE (E.164, e.g. +15551234567) with this home as its
        primary device. Without --code a code is requested: it is read from
        the terminal, or hush exits with status 3 ("run again with --code").
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
  send TO TEXT...
        send a text message. TO is a phone number or an account id. Your own
        other devices get a copy. Use -- before a text starting with "-".
  receive [--timeout D]
        print and acknowledge waiting messages; stop when the backlog is
        delivered and nothing new came for D (default 0).
  chat TO
        send each line typed to TO and print incoming messages; /quit or end
        of input ends it.
  safety-number TO
        print the 60-digit safety number with TO, to compare out of band.

Global flags (before or after the command):
  --server URL   server base URL (env HUSH_SERVER, default http://127.0.0.1:8080);
                 several nodes' URLs separated by commas: hush uses one and
                 moves to the next when it stops answering
  --home DIR     home directory holding this device's state (env HUSH_HOME,
                 default ~/.hush); one process uses a home at a time
  --json         print JSON (one object per line)

Exit status: 0 ok, 1 error, 2 usage, 3 more input needed.

Cryptography: sessions are Signal-protocol X3DH + Double Ratchet
(go.mau.fi/libsignal). hush also publishes signed ML-KEM-1024 (Kyber)
prekeys and verifies their signatures in fetched bundles, but libsignal
for Go has no PQXDH, so no session uses them yet. Identity keys are
trusted on first use; a change is announced with the new safety number.
`

func printUsage(w io.Writer) { fmt.Fprint(w, usage) }
