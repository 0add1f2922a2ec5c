package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/hushmsg/hush/gdpr"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
)

// chromium is where Debian's chromium package puts the browser;
// scripts/test.sh installs it.
const chromium = "/usr/bin/chromium"

// adminURL is the base URL of the node's admin listener.
func adminURL(t *testing.T, n *testkit.Node) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.DataDir, server.AdminAddrFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestConsoleAssets: the console's page and assets need no token, and come
// with headers that keep them to themselves.
func TestConsoleAssets(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	base := adminURL(t, n)
	for _, c := range []struct {
		path, contentType string
		status            int
	}{
		{"/admin/console", "text/html; charset=utf-8", http.StatusOK},
		{"/admin/console/", "text/html; charset=utf-8", http.StatusOK}, // redirected
		{"/admin/console/console.js", "text/javascript; charset=utf-8", http.StatusOK},
		{"/admin/console/console.css", "text/css; charset=utf-8", http.StatusOK},
		{"/admin/console/index.html", "application/json", http.StatusNotFound},
		{"/admin/console/nope.js", "application/json", http.StatusNotFound},
	} {
		resp, err := http.Get(base + c.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		equal(t, c.path+" status", resp.StatusCode, c.status)
		equal(t, c.path+" content type", resp.Header.Get("Content-Type"), c.contentType)
		if c.status != http.StatusOK {
			continue
		}
		h := resp.Header
		equal(t, c.path+" CSP has no inline script", strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") &&
			!strings.Contains(h.Get("Content-Security-Policy"), "unsafe-inline"), true)
		equal(t, c.path+" frames", h.Get("X-Frame-Options"), "DENY")
		equal(t, c.path+" referrer", h.Get("Referrer-Policy"), "no-referrer")
		equal(t, c.path+" cache", h.Get("Cache-Control"), "no-store")
	}
}

// consoleBrowser is a headless Chromium on one tab, with the steps of a
// test and a screenshot after each main one.
type consoleBrowser struct {
	t    *testing.T
	ctx  context.Context
	dir  string // screenshots
	shot int
}

// newConsoleBrowser starts Chromium for the test; it stops (and its
// profile directory goes) when the test ends.
func newConsoleBrowser(t *testing.T, shots string) *consoleBrowser {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	b := &consoleBrowser{t: t, ctx: tabCtx, dir: shots}

	// Uncaught exceptions (and CSP violations, which the browser logs as
	// errors) fail the test; failed requests (the 401 and 403 the test
	// provokes) are expected.
	var mu sync.Mutex
	var bad []string
	messages := chromedp.Console(tabCtx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				bad = append(bad, m.String())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancel()
		<-done
		for _, m := range bad {
			t.Errorf("page console: %s", m)
		}
	})
	return b
}

// do runs steps; a failure leaves a screenshot of the page as it was.
func (b *consoleBrowser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.screenshot("failed")
		b.t.Fatalf("%s: %v", what, err)
	}
}

// text is the rendered text of the first element sel matches.
func (b *consoleBrowser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *consoleBrowser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// clearField empties an input (chromedp's SetValue cannot set "").
func clearField(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).value = ""`, id))
}

// screenshot saves the whole page as NN-name.png in the artefacts.
func (b *consoleBrowser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.shot++
	if err := os.WriteFile(filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shot, name)), png, 0o644); err != nil {
		b.t.Error(err)
	}
}

// artefacts is where a test keeps files for people to look at: under
// $HUSH_ARTIFACTS when set (CI uploads it), else in a temporary directory.
func artefacts(t *testing.T, name string) string {
	t.Helper()
	base := os.Getenv("HUSH_ARTIFACTS")
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestConsole drives the admin web console in headless Chromium as a
// compliance officer would: a wrong token, signing in, finding an account
// by its number, viewing and downloading its export, erasing it with the
// number typed again, the receipt, the erasure in the audit log and the
// chain verified, the requests with an overdue one; then an operator
// token, which the compliance screens refuse.
func TestConsole(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (Debian's chromium package; scripts/test.sh installs it)", chromium)
		}
		t.Skipf("%s is missing (Debian's chromium package; scripts/test.sh installs it)", chromium)
	}
	n := testkit.Start(t, "", nil)
	alice, bob := n.Register(t), n.Register(t)
	bob2 := n.Link(t, bob, 2)
	n.MustDo(t, alice, "POST", "/v1/messages", testkit.Send(bob.AccountID, []byte("to bob"), bob, bob2), http.StatusOK, nil)
	officer, _, err := n.Node.GDPR.CreateToken(t.Context(), "cli", "officer", gdpr.RoleCompliance)
	if err != nil {
		t.Fatal(err)
	}
	operator, _, err := n.Node.GDPR.CreateToken(t.Context(), "cli", "ops", gdpr.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	var overdue gdpr.RequestView
	status, body := adminDo(t, n, officer, "POST", "/admin/v1/requests", gdpr.NewRequest{Kind: gdpr.KindErasure, Subject: bob.Number,
		Received: time.Now().AddDate(0, 0, -40).Format(time.DateOnly)})
	equal(t, "request "+string(body), status, http.StatusCreated)
	_ = json.Unmarshal(body, &overdue)

	store := "sqlite"
	if n.Cfg.DB != "" {
		store = "postgres"
	}
	shots := artefacts(t, "console-"+store)
	b := newConsoleBrowser(t, shots)
	t.Logf("screenshots in %s", shots)

	b.do("open the console", chromedp.Navigate(adminURL(t, n)+"/admin/console"), chromedp.WaitVisible(chromedp.ID("token")))
	b.screenshot("signin")

	b.do("a wrong token",
		chromedp.SendKeys(chromedp.ID("token"), "hush_admin_0123456789abcdef.wrong"),
		chromedp.Click(chromedp.CSS("#signin-form button")),
		chromedp.WaitVisible(chromedp.CSS("#signin-msg.error")))
	msg := b.text("#signin-msg")
	equal(t, "wrong token: "+msg, strings.HasPrefix(msg, "401") && strings.Contains(msg, "admin token"), true)
	equal(t, "still signed out", eval[bool](b, `document.getElementById('app').hidden`), true)
	b.screenshot("wrong-token")

	b.do("sign in",
		clearField("token"),
		chromedp.SendKeys(chromedp.ID("token"), officer),
		chromedp.Click(chromedp.CSS("#signin-form button")),
		chromedp.WaitVisible(chromedp.ID("app")))
	equal(t, "who", b.text("#who-text"), "Signed in as officer (compliance)")
	equal(t, "the token field is emptied", eval[string](b, `document.getElementById('token').value`), "")
	b.screenshot("signed-in")

	b.do("look up the number",
		chromedp.SendKeys(chromedp.ID("lookup"), bob.Number),
		chromedp.Click(chromedp.CSS("#lookup-form button")),
		chromedp.WaitVisible(chromedp.ID("account")))
	equal(t, "account id", b.text(`#account-facts dd[data-field="id"]`), bob.AccountID)
	equal(t, "devices", b.text(`#account-facts dd[data-field="devices"]`), "2")
	b.screenshot("account")

	b.do("view the export", chromedp.Click(chromedp.ID("view-export")), chromedp.WaitVisible(chromedp.ID("export")))
	equal(t, "export: account id", b.text(`#export-summary dd[data-field="id"]`), bob.AccountID)
	equal(t, "export: number", b.text(`#export-summary dd[data-field="number"]`), bob.Number)
	equal(t, "export: devices", b.text(`#export-summary dd[data-field="devices"]`), "2")
	equal(t, "export: queued envelopes", b.text(`#export-summary dd[data-field="queued"]`) != "0", true)
	b.screenshot("export")

	// The download is a real one: Chromium saves the file, and the test
	// reads it.
	downloads := t.TempDir()
	progress := chromedp.BrowserEvents(b.ctx, browser.DownloadProgress)
	events := true
	if _, err := chromedp.CallBrowser(b.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: &events}); err != nil {
		t.Fatal(err)
	}
	b.do("download the export", chromedp.Click(chromedp.ID("download-export")))
	var file string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("waiting for the download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("the download was cancelled")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			file = filepath.Join(downloads, ev.GUID)
			break
		}
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var e gdpr.Export
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("downloaded export: %v", err)
	}
	equal(t, "downloaded export: schema", e.Schema, gdpr.ExportSchema)
	equal(t, "downloaded export: number", e.Account.Number, bob.Number)
	equal(t, "downloaded export: devices", len(e.Devices), 2)

	b.do("a wrong confirmation", chromedp.SendKeys(chromedp.ID("confirm"), "yes"))
	equal(t, "erase disabled", eval[bool](b, `document.getElementById('erase').disabled`), true)
	b.do("type the number again",
		clearField("confirm"),
		chromedp.SendKeys(chromedp.ID("confirm"), bob.Number),
		chromedp.WaitEnabled(chromedp.ID("erase")))
	b.screenshot("erase-confirm")
	b.do("erase", chromedp.Click(chromedp.ID("erase")), chromedp.WaitVisible(chromedp.ID("receipt")))
	pseudonym := b.text(`#receipt-facts dd[data-field="subject"]`)
	seq := b.text(`#receipt-facts dd[data-field="seq"]`)
	equal(t, "receipt names the pseudonym", strings.HasPrefix(pseudonym, "subj_"), true)
	equal(t, "account panel gone", eval[bool](b, `document.getElementById('account').hidden`), true)
	b.screenshot("receipt")

	b.do("the erasure in the audit log",
		chromedp.Click(chromedp.ID("receipt-audit")),
		chromedp.WaitVisible(chromedp.CSS(`#audit-rows tr[data-action="erase"]`)))
	row := b.text(`#audit-rows tr[data-action="erase"]`)
	equal(t, "audit row "+row, strings.HasPrefix(row, seq) && strings.Contains(row, pseudonym), true)
	first, _ := strconv.Atoi(b.text(`#audit-rows tr:first-child td:first-child`))
	erased, _ := strconv.Atoi(seq)
	equal(t, "newest first", erased > 0 && first >= erased, true)
	b.do("verify the chain", chromedp.Click(chromedp.ID("verify")), chromedp.WaitVisible(chromedp.CSS("#audit-msg:not(:empty)")))
	msg = b.text("#audit-msg")
	equal(t, "verified: "+msg, strings.HasPrefix(msg, "Chain verified"), true)
	b.screenshot("audit")

	b.do("the requests, one overdue",
		chromedp.Click(chromedp.CSS(`nav button[data-tab="requests"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#requests-rows tr.overdue[data-id="`+overdue.ID+`"]`)))
	equal(t, "the erased number is gone from the request", strings.Contains(b.text("#requests-rows"), bob.Number), false)
	b.do("record a request",
		chromedp.SetValue(chromedp.ID("req-kind"), gdpr.KindAccess),
		chromedp.SendKeys(chromedp.ID("req-subject"), alice.Number),
		chromedp.Click(chromedp.CSS("#request-form button")),
		chromedp.WaitVisible(chromedp.CSS("#requests-rows tr:nth-child(2)")))
	b.screenshot("requests")
	b.do("close the overdue one",
		chromedp.Click(chromedp.CSS(`#requests-rows tr.overdue button`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#requests-rows tr.overdue`)))
	equal(t, "closed", strings.Contains(b.text(`#requests-rows tr[data-id="`+overdue.ID+`"]`), gdpr.StatusDone), true)

	b.do("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("token")))
	equal(t, "the token leaves the tab", eval[int](b, `sessionStorage.length`), 0)
	b.do("an operator",
		chromedp.SendKeys(chromedp.ID("token"), operator),
		chromedp.Click(chromedp.CSS("#signin-form button")),
		chromedp.WaitVisible(chromedp.ID("app")),
		chromedp.Click(chromedp.CSS(`nav button[data-tab="requests"]`)),
		chromedp.WaitVisible(chromedp.CSS("#requests-msg.error")))
	msg = b.text("#requests-msg")
	equal(t, "operator refused: "+msg, strings.HasPrefix(msg, "403"), true)
	b.screenshot("operator")

	status, _ = adminDo(t, n, officer, "GET", "/admin/v1/accounts/"+bob.Number, nil)
	equal(t, "the account is gone", status, http.StatusNotFound)
}
