package server_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/envelope/wire"
	"github.com/hushmsg/hush/gdpr"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/storetest"
	"github.com/hushmsg/hush/internal/testkit"
	"github.com/hushmsg/hush/internal/testkit/smstest"
)

const webhookSecret = "test-webhook-secret-0123456789abcdef"

// smsNode starts a node (on either store) whose codes go to a webhook
// gateway that checks their signatures.
func smsNode(t *testing.T, mutate func(*server.Config)) (*testkit.Node, *smstest.Webhook) {
	t.Helper()
	gw := smstest.NewWebhook(t, webhookSecret)
	n := testkit.Start(t, "", func(c *server.Config) {
		c.SMS.Kind = devices.SMSWebhook
		c.SMS.Webhook = devices.WebhookConfig{URL: gw.URL, Secret: webhookSecret}
		if mutate != nil {
			mutate(c)
		}
	})
	return n, gw
}

// verifyBody is a verification of number with code by a fresh identity.
func verifyBody(t *testing.T, number, code string) (api.Verify, testkit.Identity) {
	id := testkit.NewIdentity(t)
	return api.Verify{Number: number, Code: code, IdentityKey: id.Public(), DeviceKeys: id.DeviceKeys(t, 1)}, id
}

// TestParallelWrongCodes: every try of a code is counted before the code
// is compared, so however many wrong tries race, exactly --code-attempts
// of them are compared, and the right code is refused after them.
func TestParallelWrongCodes(t *testing.T) {
	t.Parallel()
	const attempts, tries = 5, 30
	n, gw := smsNode(t, func(c *server.Config) {
		c.Devices.CodeAttempts = attempts
		c.Devices.VerifyPerAddr.Burst = 0
	})
	const number = "+447911123456"
	n.MustDo(t, nil, "POST", "/v1/registration/code", api.RequestCode{Number: number}, http.StatusAccepted, nil)
	code := gw.Code(t, number)
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	verify, _ := verifyBody(t, number, wrong)
	var mu sync.Mutex
	answers := map[string]int{}
	var wg sync.WaitGroup
	for range tries {
		wg.Go(func() {
			status, b := n.Do(t, nil, "POST", "/v1/registration/verify", verify)
			var e api.Error
			_ = json.Unmarshal(b, &e)
			mu.Lock()
			answers[http.StatusText(status)+" "+e.Code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	equal(t, "invalid_code answers", answers["Forbidden "+api.CodeInvalidCode], attempts)
	equal(t, "too_many_attempts answers", answers["Too Many Requests "+api.CodeTooManyAttempts], tries-attempts)
	verify.Code = code
	n.Expect(t, nil, "POST", "/v1/registration/verify", verify, http.StatusTooManyRequests, api.CodeTooManyAttempts)
}

// TestExpiredCodesAreSwept: a code nobody used is deleted once it
// expires, with its line in the development outbox.
func TestExpiredCodesAreSwept(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	clock := func(c *server.Config) {
		c.Devices.Clock = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	}
	n, gw := smsNode(t, clock)
	for _, number := range []string{"+14155552671", "+447911123456"} {
		n.MustDo(t, nil, "POST", "/v1/registration/code", api.RequestCode{Number: number}, http.StatusAccepted, nil)
		gw.Code(t, number)
	}
	sweep := func() {
		t.Helper()
		if err := n.Node.Devices.Sweep(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	sweep()
	equal(t, "pending codes", biStats(t, n)["registration_codes"], int64(2))
	skew.Store(int64(11 * time.Minute))
	sweep()
	equal(t, "codes after they expired", biStats(t, n)["registration_codes"], int64(0))
}

// TestDevOutboxHoldsOnlyLiveCodes: the embedded profile's outbox loses a
// code's line when the code is used or expires.
func TestDevOutboxHoldsOnlyLiveCodes(t *testing.T) {
	t.Parallel()
	if os.Getenv("HUSH_TEST_STORE") == "postgres" {
		t.Skip("the dev outbox is the embedded profile's; this runs on SQLite")
	}
	var skew atomic.Int64
	n := testkit.Start(t, "", func(c *server.Config) {
		c.Devices.Clock = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	outbox := filepath.Join(n.DataDir, server.OutboxFile)
	read := func() map[string]string {
		t.Helper()
		b, err := os.ReadFile(outbox)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		codes := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if f := strings.Fields(l); len(f) == 3 {
				codes[f[1]] = f[2]
			}
		}
		return codes
	}
	const used, unused = "+14155552671", "+447911123456"
	for _, number := range []string{used, unused} {
		n.MustDo(t, nil, "POST", "/v1/registration/code", api.RequestCode{Number: number}, http.StatusAccepted, nil)
	}
	codes := read()
	equal(t, "codes in the outbox", len(codes), 2)
	verify, _ := verifyBody(t, used, codes[used])
	n.MustDo(t, nil, "POST", "/v1/registration/verify", verify, http.StatusOK, nil)
	codes = read()
	equal(t, "used code's line", codes[used], "")
	equal(t, "unused code's line", len(codes[unused]), 6)

	skew.Store(int64(11 * time.Minute))
	if err := n.Node.Devices.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(outbox); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("outbox after every code was used or expired: %v", err)
	}
	equal(t, "pending codes", biStats(t, n)["registration_codes"], int64(0))
}

// TestProductionProfileNeedsAnSMSGateway: with --db or --nats the dev
// outbox is refused, and so is no --sms at all unless the server has test
// numbers.
func TestProductionProfileNeedsAnSMSGateway(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   func(*server.Config)
		error string
	}{
		{"nats without --sms", func(c *server.Config) { c.NATS = "nats://127.0.0.1:1" }, "choose an SMS gateway"},
		{"db with --sms dev", func(c *server.Config) {
			c.DB, c.SMS.Kind = "postgres://127.0.0.1:1/x", devices.SMSDev
			c.Devices.TestNumbers = map[string]string{"+15550000001": "111111"}
		}, "embedded profile only"},
		{"webhook without a secret", func(c *server.Config) {
			c.SMS.Kind, c.SMS.Webhook.URL = devices.SMSWebhook, "https://sms.example.org/hook"
		}, "--sms-webhook-secret"},
	}
	for _, tt := range tests {
		cfg := server.Defaults()
		cfg.DataDir = t.TempDir()
		tt.cfg(&cfg)
		_, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tt.error) {
			t.Errorf("%s: err = %v, want it to say %q", tt.name, err, tt.error)
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, server.DBFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: a database was made before the configuration was refused", tt.name)
		}
	}

	// --sms none registers test numbers only.
	n := testkit.Start(t, "", func(c *server.Config) { c.SMS.Kind = devices.SMSNone })
	n.Expect(t, nil, "POST", "/v1/registration/code", api.RequestCode{Number: "+14155552671"}, http.StatusForbidden, api.CodeRegistrationClosed)
	n.MustDo(t, nil, "POST", "/v1/registration/code", api.RequestCode{Number: testkit.TestNumber()}, http.StatusAccepted, nil)
	n.Register(t)
}

// TestSMSGatewayDownIsA503: a code the gateway did not take is a clear
// retryable answer, and the code never shows in it.
func TestSMSGatewayDownIsA503(t *testing.T) {
	t.Parallel()
	n, gw := smsNode(t, func(c *server.Config) { c.SMS.Backoff, c.SMS.MaxBackoff = time.Millisecond, time.Millisecond })
	gw.FailNext(503, 503, 503)
	e := n.Expect(t, nil, "POST", "/v1/registration/code", api.RequestCode{Number: "+14155552671"}, http.StatusServiceUnavailable, api.CodeSMSUnavailable)
	if e.RetryAfter <= 0 {
		t.Fatalf("retry_after = %d", e.RetryAfter)
	}
	equal(t, "requests to the gateway", gw.Requests(), 3)
}

// reglock is a registration lock token and its salt, as a client derives
// them (the server sees only these bytes).
type reglock struct{ token, salt []byte }

func newReglock() reglock {
	l := reglock{make([]byte, 32), make([]byte, 32)}
	_, _ = rand.Read(l.token)
	_, _ = rand.Read(l.salt)
	return l
}

// TestReRegistrationWithoutLockIsANewAccount: a number registered again
// without a registration lock gets a new account. The old holder's
// devices, sockets, groups, admin role, attachments and audit pseudonym
// end with its account (erased as by an erasure request); the new
// holder's export holds none of the old holder's audit events; contacts
// find the new account and its new identity key.
func TestReRegistrationWithoutLockIsANewAccount(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	alice, bob := n.Register(t), n.Register(t)
	alice2 := n.Link(t, alice, 2)
	ws := n.Connect(t, alice2)
	skipKeysLow(t, ws)
	g := createGroup(t, n, alice, bob)
	var before gdpr.Export
	n.MustDo(t, alice, "GET", "/v1/account/export", nil, http.StatusOK, &before) // an audit event of alice's
	n.MustDo(t, bob, "POST", "/v1/messages", testkit.Send(alice.AccountID, []byte("to the old alice"), alice, alice2), http.StatusOK, nil)

	verify, id := verifyBody(t, alice.Number, testkit.TestCode)
	var creds api.Credentials
	n.MustDo(t, nil, "POST", "/v1/registration/verify", verify, http.StatusOK, &creds)
	mallory := &testkit.Device{Credentials: creds, Identity: id, RegistrationID: 1, Number: alice.Number}
	if mallory.AccountID == alice.AccountID {
		t.Fatal("the number kept its account without the registration lock")
	}

	// The old account is gone at once: credentials, sockets, directory.
	equal(t, "old device's socket", ws.CloseStatus(), websocket.StatusCode(wire.CloseDeviceRemoved))
	n.Expect(t, alice, "GET", "/v1/devices", nil, http.StatusUnauthorized, api.CodeUnauthorized)
	n.Expect(t, alice2, "GET", "/v1/devices", nil, http.StatusUnauthorized, api.CodeUnauthorized)
	var d api.Directory
	n.MustDo(t, bob, "GET", "/v1/directory/"+alice.Number, nil, http.StatusOK, &d)
	equal(t, "directory", d.AccountID, mallory.AccountID)
	var b api.Bundle
	n.MustDo(t, bob, "GET", "/v1/keys/"+mallory.AccountID+"/*", nil, http.StatusOK, &b)
	equal(t, "new identity key", string(b.IdentityKey), string(id.Public()))
	n.Expect(t, bob, "GET", "/v1/keys/"+alice.AccountID+"/*", nil, http.StatusNotFound, api.CodeNotFound)

	// Not in the old holder's groups, and not their admin.
	var gv api.Group
	n.MustDo(t, bob, "GET", "/v1/groups/"+g.GroupID, nil, http.StatusOK, &gv)
	equal(t, "members left", len(gv.Members), 1)
	equal(t, "the member left", gv.Members[0].AccountID, bob.AccountID)
	equal(t, "an heir is admin", gv.Members[0].Role, api.RoleAdmin)
	n.Expect(t, mallory, "GET", "/v1/groups/"+g.GroupID, nil, http.StatusNotFound, api.CodeNotFound)

	// The new holder's export is its own: no old events, no old data.
	var after gdpr.Export
	n.MustDo(t, mallory, "GET", "/v1/account/export", nil, http.StatusOK, &after)
	equal(t, "export's account", after.Account.ID, mallory.AccountID)
	equal(t, "groups in the new export", len(after.Groups), 0)
	equal(t, "queued envelopes in the new export", len(after.Envelopes), 0)
	equal(t, "audit events in the new export", len(after.Audit), 1) // this export
	for _, old := range before.Audit {
		if old.Subject == after.Audit[0].Subject {
			t.Fatal("the new holder inherited the old holder's audit pseudonym")
		}
	}
	// The old account was erased, as an erasure request would.
	testkit.WaitFor(t, "the replaced account to be erased", func() bool {
		return len(traces(t, n, alice.AccountID)) == 0
	})
}

// TestRegistrationLock: with a lock set, a right code alone gets 423 with
// the salt and no account data; a wrong token is counted; the right token
// re-registers the same account, groups and all.
func TestRegistrationLock(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) { c.Devices.CodeAttempts = 50 })
	alice, bob := n.Register(t), n.Register(t)
	alice2 := n.Link(t, alice, 2)
	g := createGroup(t, n, alice, bob)
	lock := newReglock()
	n.Expect(t, alice2, "PUT", "/v1/account/registration-lock", api.SetRegistrationLock{Token: lock.token, Salt: lock.salt}, http.StatusForbidden, api.CodeForbidden)
	n.Expect(t, alice, "PUT", "/v1/account/registration-lock", api.SetRegistrationLock{Token: lock.token[:16], Salt: lock.salt}, http.StatusBadRequest, api.CodeBadRequest)
	n.MustDo(t, alice, "PUT", "/v1/account/registration-lock", api.SetRegistrationLock{Token: lock.token, Salt: lock.salt}, http.StatusNoContent, nil)

	verify, id := verifyBody(t, alice.Number, testkit.TestCode)
	status, body := n.Do(t, nil, "POST", "/v1/registration/verify", verify)
	equal(t, "status without the token", status, http.StatusLocked)
	var e api.Error
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	equal(t, "error code", e.Code, api.CodeRegistrationLocked)
	if e.RegistrationLock == nil || !bytes.Equal(e.RegistrationLock.Salt, lock.salt) {
		t.Fatalf("423 without the salt: %s", body)
	}
	if left := e.RegistrationLock.TimeRemaining; left < int64(6*24*3600) || left > int64(7*24*3600) {
		t.Fatalf("time_remaining = %d", left)
	}
	equal(t, "attempts remaining", e.RegistrationLock.AttemptsRemaining, 10)
	if bytes.Contains(body, []byte(alice.AccountID)) || bytes.Contains(body, []byte(alice.Number)) {
		t.Fatalf("423 holds account data: %s", body)
	}

	verify.RegistrationLock = newReglock().token
	e = n.Expect(t, nil, "POST", "/v1/registration/verify", verify, http.StatusLocked, api.CodeRegistrationLocked)
	equal(t, "attempts remaining after a wrong token", e.RegistrationLock.AttemptsRemaining, 9)
	n.MustDo(t, alice, "GET", "/v1/devices", nil, http.StatusOK, nil) // nothing changed yet

	verify.RegistrationLock = lock.token
	var creds api.Credentials
	n.MustDo(t, nil, "POST", "/v1/registration/verify", verify, http.StatusOK, &creds)
	equal(t, "the same account", creds.AccountID, alice.AccountID)
	again := &testkit.Device{Credentials: creds, Identity: id, RegistrationID: 1, Number: alice.Number}
	n.Expect(t, alice2, "GET", "/v1/devices", nil, http.StatusUnauthorized, api.CodeUnauthorized)
	var gv api.Group
	n.MustDo(t, again, "GET", "/v1/groups/"+g.GroupID, nil, http.StatusOK, &gv)
	equal(t, "still admin", gv.Members[0].AccountID == alice.AccountID && gv.Members[0].Role == api.RoleAdmin ||
		gv.Members[1].AccountID == alice.AccountID && gv.Members[1].Role == api.RoleAdmin, true)

	// Removed, the lock no longer holds: the number gets a new account.
	n.Expect(t, alice2, "DELETE", "/v1/account/registration-lock", nil, http.StatusUnauthorized, api.CodeUnauthorized)
	n.MustDo(t, again, "DELETE", "/v1/account/registration-lock", nil, http.StatusNoContent, nil)
	fresh := n.RegisterNumber(t, alice.Number, testkit.TestCode)
	if fresh.AccountID == alice.AccountID {
		t.Fatal("the number kept its account after the lock was removed")
	}
}

// TestRegistrationLockTriesAreLimited: wrong tokens are counted per
// account, and past the limit even the right one waits.
func TestRegistrationLockTriesAreLimited(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", func(c *server.Config) {
		c.Devices.ReglockAttempts = 3
		c.Devices.VerifyPerAddr.Burst = 0
	})
	alice := n.Register(t)
	lock := newReglock()
	n.MustDo(t, alice, "PUT", "/v1/account/registration-lock", api.SetRegistrationLock{Token: lock.token, Salt: lock.salt}, http.StatusNoContent, nil)
	verify, _ := verifyBody(t, alice.Number, testkit.TestCode)
	verify.RegistrationLock = newReglock().token
	var mu sync.Mutex
	answers := map[int]int{}
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			status, _ := n.Do(t, nil, "POST", "/v1/registration/verify", verify)
			mu.Lock()
			answers[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	equal(t, "wrong tokens compared", answers[http.StatusLocked], 3)
	equal(t, "tries refused", answers[http.StatusTooManyRequests], 9)
	verify.RegistrationLock = lock.token
	e := n.Expect(t, nil, "POST", "/v1/registration/verify", verify, http.StatusTooManyRequests, api.CodeTooManyAttempts)
	if e.RetryAfter <= 0 {
		t.Fatalf("retry_after = %d", e.RetryAfter)
	}
	n.MustDo(t, alice, "GET", "/v1/devices", nil, http.StatusOK, nil)
}

// TestRegistrationLockLapses: an account inactive for --reglock-days no
// longer holds its number: it registers without the PIN, as a new account.
func TestRegistrationLockLapses(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	n := testkit.Start(t, "", func(c *server.Config) {
		c.Devices.Clock = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	alice := n.Register(t)
	lock := newReglock()
	n.MustDo(t, alice, "PUT", "/v1/account/registration-lock", api.SetRegistrationLock{Token: lock.token, Salt: lock.salt}, http.StatusNoContent, nil)
	skew.Store(int64(6 * 24 * time.Hour))
	verify, _ := verifyBody(t, alice.Number, testkit.TestCode)
	e := n.Expect(t, nil, "POST", "/v1/registration/verify", verify, http.StatusLocked, api.CodeRegistrationLocked)
	if left := e.RegistrationLock.TimeRemaining; left > int64(24*3600) || left < int64(23*3600) {
		t.Fatalf("time_remaining after six idle days = %d", left)
	}
	skew.Store(int64(7*24*time.Hour + time.Hour))
	fresh := n.RegisterNumber(t, alice.Number, testkit.TestCode)
	if fresh.AccountID == alice.AccountID {
		t.Fatal("the number kept its account after the lock lapsed")
	}
}

// TestClusterRegistersThroughGateways: two nodes on one PostgreSQL and
// NATS, one sending codes through a signed webhook, the other through
// Twilio's API; a code sent by one node is verified on the other, and no
// development outbox exists anywhere.
func TestClusterRegistersThroughGateways(t *testing.T) {
	t.Parallel()
	const (
		sid   = "AC00112233445566778899aabbccddeeff"
		token = "cluster-twilio-token"
		from  = "+15005550006"
	)
	db, nats := storetest.PostgresURL(t), storetest.NATSURL(t)
	hook := smstest.NewWebhook(t, webhookSecret)
	tw := smstest.NewTwilio(t, sid, token, from)
	a := testkit.Start(t, "", func(c *server.Config) {
		c.DB, c.NATS = db, nats
		c.SMS.Kind, c.SMS.Webhook = devices.SMSWebhook, devices.WebhookConfig{URL: hook.URL, Secret: webhookSecret}
	})
	b := testkit.Start(t, "", func(c *server.Config) {
		c.DB, c.NATS = db, nats
		c.SMS.Kind, c.SMS.Twilio = devices.SMSTwilio, devices.TwilioConfig{AccountSID: sid, AuthToken: token, From: from, BaseURL: tw.URL}
	})
	register := func(send, check *testkit.Node, number string, code func() string) *testkit.Device {
		t.Helper()
		send.MustDo(t, nil, "POST", "/v1/registration/code", api.RequestCode{Number: number}, http.StatusAccepted, nil)
		verify, id := verifyBody(t, number, code())
		var creds api.Credentials
		check.MustDo(t, nil, "POST", "/v1/registration/verify", verify, http.StatusOK, &creds)
		return &testkit.Device{Credentials: creds, Identity: id, RegistrationID: 1, Number: number}
	}
	alice := register(a, b, "+14155552671", func() string { return hook.Code(t, "+14155552671") })
	bob := register(b, a, "+447911123456", func() string { return tw.Code(t, "+447911123456") })
	var d api.Directory
	a.MustDo(t, alice, "GET", "/v1/directory/"+bob.Number, nil, http.StatusOK, &d)
	equal(t, "bob in the directory", d.AccountID, bob.AccountID)
	b.MustDo(t, bob, "GET", "/v1/directory/"+alice.Number, nil, http.StatusOK, &d)
	equal(t, "alice in the directory", d.AccountID, alice.AccountID)
	equal(t, "webhook refusals", len(hook.Problems()), 0)
	equal(t, "twilio refusals", len(tw.Problems()), 0)
	for _, n := range []*testkit.Node{a, b} {
		if _, err := os.Stat(filepath.Join(n.DataDir, server.OutboxFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a dev outbox exists on a cluster node: %v", err)
		}
	}
	equal(t, "pending codes", biStats(t, a)["registration_codes"], int64(0))
}
