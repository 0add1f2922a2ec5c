package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/testkit"
	"github.com/hushmsg/hush/signal"
)

func assert(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer = testkit.SyncBuffer

// result is one in-process run of the CLI.
type result struct {
	stdout, stderr string
	code           int
}

// hush runs the CLI in-process with stdin (nil: empty, not a terminal).
func hush(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	var out, errOut syncBuffer
	code := runWith(t, stdin, &out, &errOut, args...)
	return result{out.String(), errOut.String(), code}
}

func runWith(t *testing.T, stdin io.Reader, out, errOut io.Writer, args ...string) int {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	e := &env{stdin: stdin, stdout: out, stderr: errOut, getenv: func(string) string { return "" }}
	return report(errOut, run(context.Background(), args, e))
}

func TestParseFlagsAnywhere(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args      []string
		pos       []string
		code      string
		json      bool
		home      string
		wantUsage bool
	}{
		{args: []string{"+15550000001", "--code", "111111"}, pos: []string{"+15550000001"}, code: "111111"},
		{args: []string{"--code=1", "+1", "--json", "x"}, pos: []string{"+1", "x"}, code: "1", json: true},
		{args: []string{"a", "--home", "/h", "--", "-b", "--code", "c"}, pos: []string{"a", "-b", "--code", "c"}, home: "/h"},
		{args: []string{"a", "-unknown"}, wantUsage: true},
		{args: []string{"--code"}, wantUsage: true},
	}
	for _, tc := range tests {
		a := &app{env: &env{}, g: globals{home: "default"}}
		fs := a.flagSet("test")
		code := fs.String("code", "", "")
		pos, err := a.parse(fs, tc.args, 0, -1)
		if tc.wantUsage {
			var ce *codedError
			assert(t, errors.As(err, &ce) && ce.code == exitUsage, "%q: got %v, want a usage error", tc.args, err)
			continue
		}
		noErr(t, err)
		assert(t, strings.Join(pos, "|") == strings.Join(tc.pos, "|"), "%q: positional %q, want %q", tc.args, pos, tc.pos)
		assert(t, *code == tc.code, "%q: --code %q, want %q", tc.args, *code, tc.code)
		assert(t, a.g.json == tc.json, "%q: --json %v", tc.args, a.g.json)
		if tc.home != "" {
			assert(t, a.g.home == tc.home, "%q: --home %q", tc.args, a.g.home)
		}
	}
}

func TestExitCodesWithoutServer(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	server := "http://127.0.0.1:1" // nothing listens: no test may reach it
	tests := []struct {
		name string
		args []string
		code int
		say  string
	}{
		{"no command", nil, exitUsage, "no command"},
		{"unknown command", []string{"frobnicate"}, exitUsage, "unknown command"},
		{"register without number", []string{"register"}, exitUsage, "missing arguments"},
		{"register bad number", []string{"register", "5550000001", "--code", "1"}, exitUsage, "E.164"},
		{"approve bad link code", []string{"approve", "hush-link:abc"}, exitUsage, "not a valid link code"},
		{"send empty text", []string{"send", "+15550000001", " "}, exitUsage, "empty message"},
		{"whoami before register", []string{"whoami"}, exitError, "no account"},
		{"devices remove junk", []string{"devices", "remove", "x"}, exitError, "no account"},
		{"send bad location", []string{"send", "+15550000001", "--location", "91,10"}, exitUsage, "latitude"},
		{"send location and text", []string{"send", "+15550000001", "--location", "1,2", "hi"}, exitUsage, "takes no text"},
		{"send to group without text", []string{"send", "--group", "g"}, exitUsage, "missing arguments"},
		{"send two media", []string{"send", "+15550000001", "--image", "a.png", "--file", "b"}, exitUsage, "one of --image, --video and --file"},
		{"send media and location", []string{"send", "+15550000001", "--video", "a.mp4", "--location", "1,2"}, exitUsage, "takes no --video"},
		{"send missing file", []string{"send", "+15550000001", "--file", "no-such-file.bin"}, exitError, "no such file"},
		{"group without subcommand", []string{"group"}, exitUsage, "missing subcommand"},
		{"group junk", []string{"group", "frob"}, exitUsage, "unknown subcommand"},
		{"group show without G", []string{"group", "show"}, exitUsage, "missing arguments"},
		{"typing to nobody", []string{"typing"}, exitUsage, "either TO or --group"},
		{"typing to both", []string{"typing", "+15550000001", "--group", "g"}, exitUsage, "either TO or --group"},
		{"chat to both", []string{"chat", "+15550000001", "--group", "g"}, exitUsage, "either TO or --group"},
		{"privacy junk", []string{"privacy", "last-seen", "friends"}, exitUsage, "neither everyone nor nobody"},
		{"privacy unknown", []string{"privacy", "read-receipts", "off"}, exitUsage, "unknown setting"},
		{"status both", []string{"status", "+15550000001", "--group", "g"}, exitUsage, "not both"},
		{"bad server URL", []string{"--server", "ftp://x", "register", "+15550000001", "--code", "1"}, exitUsage, "scheme"},
	}
	for _, tc := range tests {
		r := hush(t, nil, append([]string{"--server", server, "--home", filepath.Join(home, tc.name)}, tc.args...)...)
		assert(t, r.code == tc.code, "%s: exit %d, want %d (stderr %q)", tc.name, r.code, tc.code, r.stderr)
		assert(t, strings.Contains(r.stderr, tc.say), "%s: stderr %q does not say %q", tc.name, r.stderr, tc.say)
		assert(t, strings.Count(strings.TrimSpace(r.stderr), "\n") == 0, "%s: stderr is not one line: %q", tc.name, r.stderr)
		assert(t, r.stdout == "", "%s: stdout %q", tc.name, r.stdout)
	}
	r := hush(t, nil, "help")
	assert(t, r.code == exitOK && strings.Contains(r.stdout, "safety-number") && strings.Contains(r.stdout, "PQXDH"), "help: %+v", r)
}

// TestRegisterWithoutCodeNeedsInput checks exit status 3 when a code was
// requested and stdin is no terminal; a stand-in answers the code request.
func TestRegisterWithoutCodeNeedsInput(t *testing.T) {
	t.Parallel()
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = r.Method + " " + r.URL.Path + " " + string(b)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"expires_in":600}`)
	}))
	defer srv.Close()
	r := hush(t, nil, "--server", srv.URL, "--home", t.TempDir(), "register", "+15550000001")
	assert(t, r.code == exitNeedInput, "exit %d, want %d (stderr %q)", r.code, exitNeedInput, r.stderr)
	assert(t, strings.Contains(r.stderr, "code sent") && strings.Contains(r.stderr, "--code"), "stderr %q", r.stderr)
	assert(t, got == `POST /v1/registration/code {"number":"+15550000001"}`, "request %q", got)
}

func TestSafetyNumber(t *testing.T) {
	t.Parallel()
	a, err := newIdentity()
	noErr(t, err)
	b, err := newIdentity()
	noErr(t, err)
	c, err := newIdentity()
	noErr(t, err)
	const alice, bob, carol = "8d3f7f3e-55a2-4c63-a8a4-0f5b3f6f1c11", "2b7e6c1a-9d1e-4c39-b4f5-6a1f0c8e9d22", "0c6b4a1e-2f3d-4e5a-8b7c-9d0e1f2a3b4c"
	sn := func(l string, lk signal.IdentityKeyPair, r string, rk signal.IdentityKeyPair) string {
		t.Helper()
		s, err := safetyNumber(l, lk.Public, r, rk.Public)
		noErr(t, err)
		return s
	}
	ab := sn(alice, a, bob, b)
	assert(t, len(ab) == 60 && strings.Trim(ab, "0123456789") == "", "safety number %q is not 60 digits", ab)
	assert(t, ab == sn(bob, b, alice, a), "the two sides see different numbers")
	assert(t, ab != sn(alice, a, bob, c), "a changed key kept the number")
	assert(t, ab != sn(alice, a, carol, b), "a changed identifier kept the number")
	_, err = safetyNumber("alice", a.Public, bob, b.Public)
	assert(t, err != nil, "an account id that is no UUID was taken")
	g := groupDigits(ab)
	assert(t, len(strings.Fields(g)) == 12 && strings.ReplaceAll(g, " ", "") == ab, "grouped %q", g)
}

// TestSafetyNumberIsLibsignals: the number is libsignal's version-2
// fingerprint over the ACIs, as the official apps show it.
func TestSafetyNumberIsLibsignals(t *testing.T) {
	t.Parallel()
	a, err := newIdentity()
	noErr(t, err)
	b, err := newIdentity()
	noErr(t, err)
	const alice, bob = "8d3f7f3e-55a2-4c63-a8a4-0f5b3f6f1c11", "2b7e6c1a-9d1e-4c39-b4f5-6a1f0c8e9d22"
	got, err := safetyNumber(alice, a.Public, bob, b.Public)
	noErr(t, err)
	au, bu := uuid.MustParse(alice), uuid.MustParse(bob)
	fp, err := signal.NewFingerprint(2, 5200, au[:], a.Public, bu[:], b.Public)
	noErr(t, err)
	assert(t, got == fp.Display, "safety number %s, libsignal's %s", got, fp.Display)
}

func TestVerifyPQPreKey(t *testing.T) {
	t.Parallel()
	ident, err := newIdentity()
	noErr(t, err)
	other, err := newIdentity()
	noErr(t, err)
	k, err := signal.GenerateKyberPreKey(ident, 4, time.Now(), nil)
	noErr(t, err)
	good := kyberAPI(k)
	assert(t, len(good.PublicKey) == 1569 && good.PublicKey[0] == 0x08, "PQ key of %d bytes, type %#x", len(good.PublicKey), good.PublicKey[0])
	noErr(t, verifyPQPreKey(ident.Public, &good))

	mutate := map[string]func(*api.SignedPreKey){
		"other identity": func(*api.SignedPreKey) {},
		"signature bit":  func(k *api.SignedPreKey) { k.Signature[10] ^= 1 },
		"key bit":        func(k *api.SignedPreKey) { k.PublicKey[100] ^= 1 },
		"key type":       func(k *api.SignedPreKey) { k.PublicKey[0] = 0x05 },
		"short key":      func(k *api.SignedPreKey) { k.PublicKey = k.PublicKey[:1568] },
		"short sig":      func(k *api.SignedPreKey) { k.Signature = k.Signature[:63] },
	}
	for name, m := range mutate {
		bad := api.SignedPreKey{KeyID: good.KeyID, PublicKey: bytes.Clone(good.PublicKey), Signature: bytes.Clone(good.Signature)}
		m(&bad)
		signer := ident.Public
		if name == "other identity" {
			signer = other.Public
		}
		err := verifyPQPreKey(signer, &bad)
		assert(t, errors.Is(err, errBadPQKey), "%s: got %v, want errBadPQKey", name, err)
	}
}

func TestPrintableAndNumbers(t *testing.T) {
	t.Parallel()
	assert(t, printable("a\x1b[31mb\nc\u009bd") == "a\uFFFD[31mb c\uFFFDd", "printable: %q", printable("a\x1b[31mb\nc\u009bd"))
	for n, ok := range map[string]bool{"+15550000001": true, "+1": false, "15550000001": false, "+0555": false, "+1555a": false, "+1234567890123456": false} {
		assert(t, isE164(n) == ok, "isE164(%q) = %v", n, !ok)
	}
}

// TestMain fails the package if a command leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestHomeIsPrivate: the home directory is 0700 and the database 0600;
// ones an older version left looser are tightened, and the user told
// how many without paths.
func TestHomeIsPrivate(t *testing.T) {
	t.Parallel()
	home := filepath.Join(t.TempDir(), "home")
	args := []string{"--server", "http://127.0.0.1:1", "--home", home, "whoami"}
	hush(t, nil, args...)
	modes := func() (dir, db os.FileMode) {
		d, err := os.Stat(home)
		noErr(t, err)
		f, err := os.Stat(filepath.Join(home, "hush.db"))
		noErr(t, err)
		return d.Mode().Perm(), f.Mode().Perm()
	}
	dir, db := modes()
	assert(t, dir == 0o700 && db == 0o600, "created %v and %v", dir, db)

	noErr(t, os.Chmod(home, 0o755))
	noErr(t, os.Chmod(filepath.Join(home, "hush.db"), 0o644))
	r := hush(t, nil, args...)
	dir, db = modes()
	assert(t, dir == 0o700 && db == 0o600, "after a start: %v and %v", dir, db)
	assert(t, strings.Contains(r.stderr, "made 2 entries of the home directory private"), "stderr %q", r.stderr)
	assert(t, !strings.Contains(r.stderr, home), "stderr %q names the home", r.stderr)
}
