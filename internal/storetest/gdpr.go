package storetest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hushmsg/hush/gdpr"
	"github.com/hushmsg/hush/internal/api"
)

func testGDPR(t *testing.T, s Store) {
	ctx := context.Background()
	g := gdpr.New(gdpr.Defaults(), s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	secret, tok, err := g.CreateToken(ctx, "cli", "officer", gdpr.RoleCompliance)
	check(t, err)
	got, err := g.Authenticate(ctx, secret)
	check(t, err)
	equal(t, "authenticated token", got.ID, tok.ID)
	equal(t, "role", got.Role, gdpr.RoleCompliance)
	last := "A"
	if strings.HasSuffix(secret, "A") {
		last = "B"
	}
	for _, bad := range []string{"", secret + "x", secret[:len(secret)-1] + last, "hush_admin_0000000000000000.AAAA"} {
		if _, err := g.Authenticate(ctx, bad); !errors.Is(err, gdpr.ErrBadToken) {
			t.Fatalf("token %q: %v", bad, err)
		}
	}
	check(t, g.RevokeToken(ctx, "cli", tok.ID))
	if _, err := g.Authenticate(ctx, secret); !errors.Is(err, gdpr.ErrBadToken) {
		t.Fatalf("revoked token: %v", err)
	}
	if err := g.RevokeToken(ctx, "cli", tok.ID); !errors.Is(err, gdpr.ErrNotFound) {
		t.Fatalf("revoked twice: %v", err)
	}

	a := register(t, s, 1)
	r, err := g.CreateRequest(ctx, tok.ID, gdpr.KindErasure, "+1 (415) 555-2671", time.Time{})
	check(t, err)
	equal(t, "due in 30 days", r.Due.Sub(r.Received), 30*24*time.Hour)
	equal(t, "subject in E.164", r.Subject, "+14155552671")
	for _, bad := range []string{"", "4155552671", "+1 555 000 0001", "+1415555267१", "not a number", string(make([]byte, 65))} {
		_, err := g.CreateRequest(ctx, tok.ID, gdpr.KindErasure, bad, time.Time{})
		var ie *gdpr.InputError
		if !errors.As(err, &ie) || ie.Code != api.CodeInvalidNumber {
			t.Fatalf("subject %q: %v", bad, err)
		}
	}
	check(t, g.CloseRequest(ctx, tok.ID, r.ID, gdpr.StatusDone, "erased"))
	if err := g.CloseRequest(ctx, tok.ID, r.ID, gdpr.StatusDone, ""); !errors.Is(err, gdpr.ErrNotFound) {
		t.Fatalf("closed twice: %v", err)
	}
	reqs, err := g.Requests(ctx)
	check(t, err)
	equal(t, "requests", len(reqs), 1)
	equal(t, "closed", reqs[0].Status, gdpr.StatusDone)

	check(t, g.Audit(ctx, tok.ID, "export", a, map[string]int{"devices": 1}))
	check(t, g.Audit(ctx, tok.ID, "export", a, nil))
	p1, err := s.Pseudonym(ctx, a, func() string { return "other" })
	check(t, err)
	mine, err := g.Log(ctx, p1, 0, 100)
	check(t, err)
	equal(t, "entries about the account", len(mine), 2)
	n, err := g.Verify(ctx)
	check(t, err)
	equal(t, "entries verified", n, int64(6)) // token create, revoke, request create, close, two exports
	if _, err := s.Pseudonym(ctx, "00000000-0000-4000-8000-000000000000", func() string { return "x" }); !errors.Is(err, gdpr.ErrNotFound) {
		t.Fatalf("pseudonym of no account: %v", err)
	}
}

// testConcurrentAudit: appends from many goroutines make one gapless chain.
func testConcurrentAudit(t *testing.T, s Store) {
	ctx := context.Background()
	g := gdpr.New(gdpr.Defaults(), s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := g.Audit(ctx, "system", "test", "", nil); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	n, err := g.Verify(ctx)
	check(t, err)
	equal(t, "chain length", n, int64(40))
}
