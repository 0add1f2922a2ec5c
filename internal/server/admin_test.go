package server_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hushmsg/hush/gdpr"
	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
)

// adminDo calls the admin API with a bearer token ("" none).
func adminDo(t *testing.T, n *testkit.Node, token, method, path string, body any) (int, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.DataDir, server.AdminAddrFile))
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, strings.TrimSpace(string(b))+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	n := testkit.Start(t, "", nil)
	g := n.Node.GDPR
	officer, offTok, err := g.CreateToken(t.Context(), "cli", "officer", gdpr.RoleCompliance)
	if err != nil {
		t.Fatal(err)
	}
	operator, _, err := g.CreateToken(t.Context(), "cli", "ops", gdpr.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name, token string
		status      int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"garbage", "nope", http.StatusUnauthorized},
		{"forged secret", officer[:len(officer)-2] + flip(officer[len(officer)-2:]), http.StatusUnauthorized},
		{"wrong role", operator, http.StatusForbidden},
	} {
		status, body := adminDo(t, n, c.token, "GET", "/admin/v1/requests", nil)
		equal(t, c.name+": "+string(body), status, c.status)
	}
	status, _ := adminDo(t, n, operator, "GET", "/admin/v1/whoami", nil)
	equal(t, "operator whoami", status, http.StatusOK)
	// The admin API is not on the public listener.
	code, _ := n.Do(t, nil, "GET", "/admin/v1/requests", nil)
	equal(t, "admin route on the public side", code, http.StatusNotFound)

	old := time.Now().AddDate(0, 0, -40).Format(time.DateOnly)
	var created gdpr.RequestView
	status, body := adminDo(t, n, officer, "POST", "/admin/v1/requests", gdpr.NewRequest{Kind: gdpr.KindErasure, Subject: "+15550001111", Received: old})
	equal(t, "create request "+string(body), status, http.StatusCreated)
	_ = json.Unmarshal(body, &created)
	equal(t, "overdue", created.Overdue, true)
	var fresh gdpr.RequestView
	status, body = adminDo(t, n, officer, "POST", "/admin/v1/requests", gdpr.NewRequest{Kind: gdpr.KindAccess, Subject: "+1 (555) 000-1222"})
	equal(t, "create fresh request", status, http.StatusCreated)
	_ = json.Unmarshal(body, &fresh)
	equal(t, "subject kept in E.164", fresh.Subject, "+15550001222")
	for _, bad := range []string{"555 000 1222", "+1 555 000 12", "+15550002222", "somebody"} {
		status, body = adminDo(t, n, officer, "POST", "/admin/v1/requests", gdpr.NewRequest{Kind: gdpr.KindAccess, Subject: bad})
		equal(t, "subject "+bad, status, http.StatusBadRequest)
		var e api.Error
		_ = json.Unmarshal(body, &e)
		equal(t, "subject "+bad+" code", e.Code, api.CodeInvalidNumber)
	}
	status, body = adminDo(t, n, officer, "POST", "/admin/v1/requests", gdpr.NewRequest{Kind: "gossip", Subject: "x"})
	equal(t, "bad kind "+string(body), status, http.StatusBadRequest)
	var list struct{ Requests []gdpr.RequestView }
	_, body = adminDo(t, n, officer, "GET", "/admin/v1/requests", nil)
	_ = json.Unmarshal(body, &list)
	equal(t, "requests", len(list.Requests), 2)
	equal(t, "oldest first and overdue", list.Requests[0].Overdue && !list.Requests[1].Overdue, true)
	status, _ = adminDo(t, n, officer, "POST", "/admin/v1/requests/"+created.ID+"/close", gdpr.CloseBody{Status: gdpr.StatusDone})
	equal(t, "close", status, http.StatusNoContent)
	status, _ = adminDo(t, n, officer, "POST", "/admin/v1/requests/"+created.ID+"/close", gdpr.CloseBody{Status: gdpr.StatusDone})
	equal(t, "close again", status, http.StatusNotFound)

	var log struct{ Entries []gdpr.Entry }
	_, body = adminDo(t, n, officer, "GET", "/admin/v1/audit", nil)
	_ = json.Unmarshal(body, &log)
	actions := map[string]int{}
	for _, e := range log.Entries {
		if e.Actor == offTok.ID {
			actions[e.Action]++
		}
	}
	equal(t, "audited request creations", actions["request.create"], 2)
	equal(t, "audited calls", actions["POST /admin/v1/requests"], 7)
	var v struct {
		OK       bool
		Verified int64
	}
	_, body = adminDo(t, n, officer, "GET", "/admin/v1/audit/verify", nil)
	_ = json.Unmarshal(body, &v)
	equal(t, "chain verifies", v.OK, true)

	// Tampering shows: change an entry behind the triggers' back.
	if n.Cfg.DB == "" {
		n.Stop()
		db, err := sql.Open("sqlite", filepath.Join(n.DataDir, server.DBFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{`DROP TRIGGER audit_log_no_update`, `UPDATE audit_log SET detail = '{"status":403}' WHERE seq = 3`} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		n2 := testkit.StartConfig(t, n.Cfg)
		_, err = n2.Node.GDPR.Verify(t.Context())
		var ce *gdpr.ChainError
		if !errors.As(err, &ce) || ce.Seq != 3 {
			t.Fatalf("tampered log: %v", err)
		}
	}
}

// flip changes every character of s to another.
func flip(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}
