package server_test

// FuzzJSONRoutes sends fuzzed bodies to every route that takes a JSON body,
// on one node, in process (the router is called directly: a panic is the
// fuzzer's crash, not a dropped connection). It asserts properties of every
// answer, not only that nothing panics:
//
//   - never a 5xx, and nothing logged at error level;
//   - every 4xx is a JSON api.Error with a declared code and a message,
//     holds none of the test's secrets (passwords, codes) nor a secret
//     field of the body it refuses, and changes no row of the store;
//   - the test's own credentials keep working (no 401);
//   - a 2xx (a valid body may get through; rate limits are lifted) has an
//     empty or JSON body.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/server"
	"github.com/hushmsg/hush/internal/testkit"
)

// fzRoute is one JSON-body route of the fuzz target.
type fzRoute struct {
	pattern string          // as Router.Patterns lists it
	path    string          // with its variables filled in
	as      *testkit.Device // nil: the route takes no credential
	seeds   []any           // bodies for f.Add: []byte or string as is, else JSON
	// secret names the body fields whose values a refusal must not repeat.
	secret []string
}

// fzNoBody lists the routes that take no JSON body, and why; every other
// route must be in the fuzz table. fzProbe checks the list.
var fzNoBody = map[string]string{
	"GET /healthz":                             "GET",
	"GET /readyz":                              "GET",
	"GET /v1/provisioning":                     "WebSocket",
	"GET /v1/websocket":                        "WebSocket (frames: envelope/wire's FuzzDecode)",
	"POST /v1/devices/provisioning_code":       "no body",
	"GET /v1/devices":                          "GET",
	"DELETE /v1/devices/{device_id}":           "path only",
	"GET /v1/directory/{number}":               "GET",
	"GET /v1/account/privacy":                  "GET",
	"GET /v1/accounts/{id}/last_seen":          "GET",
	"GET /v1/keys/count":                       "GET",
	"GET /v1/keys/{account_id}/{device_id}":    "GET",
	"GET /v1/groups":                           "GET",
	"GET /v1/groups/{id}":                      "GET",
	"DELETE /v1/groups/{id}/members/{account}": "path only",
	"GET /v1/attachments/{id}":                 "GET",
	"DELETE /v1/attachments/{id}":              "path only",
	"GET /v1/attachments/{id}/upload":          "GET",
	"POST /v1/attachments/{id}/complete":       "no body",
	"PUT /v1/attachments/{id}/parts/{n}":       "raw bytes under a signed URL (attachments' FuzzFSRoutes)",
	"GET /v1/attachments/{id}/blob":            "GET under a signed URL",
	"GET /v1/push":                             "GET",
	"DELETE /v1/push":                          "no body",
	"GET /v1/push/vapid":                       "GET",
	"GET /v1/account/export":                   "GET",
	"DELETE /v1/account":                       "no body",
	"DELETE /v1/account/registration-lock":     "no body",
	"GET /attachments/{id}":                    "GET (CDN)",
}

// fzLog collects what the node logs while the fuzz target runs: the test
// kit's logger writes to the testing.F, which must not be used inside the
// fuzz function.
type fzLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *fzLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

// take returns and forgets what was logged.
func (l *fzLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.buf.String()
	l.buf.Reset()
	return s
}

// fzEnv is the node and what the target knows about it.
type fzEnv struct {
	n       *testkit.Node
	log     *fzLog
	routes  []fzRoute
	codes   map[string]bool // the declared api.Code* values
	secrets []string        // passwords and codes no answer may hold
}

// fzSetup starts a node with the rate limits lifted, makes the accounts
// the routes act as, and builds the route table. Its order is the first
// input of the corpus (testdata/fuzz/FuzzJSONRoutes): append, never
// reorder.
func fzSetup(f *testing.F) *fzEnv {
	code := make([]byte, 12)
	_, _ = rand.Read(code)
	private := hex.EncodeToString(code) // the code of the test's own numbers
	numbers := []string{"+15559000001", "+15559000002", "+15559000003", "+15559000004", "+15559000005"}
	first := testkit.Start(f, "", func(c *server.Config) {
		biOpenLimits(c)
		c.Devices.CodePerNumber.Burst = 100000
		c.Envelope.SendLimit.Burst = 1000000
		c.Attachments.UploadLimit.Burst = 1000000
		// Numbers only this test knows the code of: a fuzzed
		// registration cannot take over the accounts it acts as.
		c.Devices.TestNumbers = maps.Clone(c.Devices.TestNumbers)
		for _, number := range numbers {
			c.Devices.TestNumbers[number] = private
		}
	})
	// The same configuration and store again, logging to a buffer.
	first.Stop()
	log := &fzLog{}
	n := testkit.StartLogged(f, first.Cfg, slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn}))

	alice := n.RegisterNumber(f, numbers[0], private) // sends, uploads, groups
	alice2 := n.Link(f, alice, 2)
	bob := n.RegisterNumber(f, numbers[1], private) // receives; never connects
	// carol registers push and links devices: nothing is ever sent to her,
	// so no push goes out and alice's group keeps its devices.
	carol := n.RegisterNumber(f, numbers[2], private)
	dave := n.RegisterNumber(f, numbers[3], private) // added to a group
	var pc api.ProvisioningCode
	n.MustDo(f, carol, "POST", "/v1/devices/provisioning_code", nil, http.StatusOK, &pc)
	var changed, stable api.Group // members change / members never change
	n.MustDo(f, alice, "POST", "/v1/groups", api.CreateGroup{Members: []string{bob.AccountID}}, http.StatusCreated, &changed)
	n.MustDo(f, alice, "POST", "/v1/groups", api.CreateGroup{Members: []string{bob.AccountID}}, http.StatusCreated, &stable)

	id := testkit.NewIdentity(f)
	verify := api.Verify{Number: testkit.TestNumber(), Code: testkit.TestCode, IdentityKey: id.Public(), DeviceKeys: id.DeviceKeys(f, 7)}
	signed, pq := alice.Identity.SignedEC(f, 50), alice.Identity.SignedPQ(f, 51)
	keys := api.SetKeys{SignedPreKey: &signed, PQLastResortPreKey: &pq,
		PreKeys:   []api.PreKey{{KeyID: 60, PublicKey: testkit.ECKey(f)}, {KeyID: 61, PublicKey: testkit.ECKey(f)}},
		PQPreKeys: []api.SignedPreKey{alice.Identity.SignedPQ(f, 62)}}
	notUrgent := false
	send := testkit.Send(bob.AccountID, []byte("hello"), bob, alice2) // and the sync copy
	send.Urgent = &notUrgent
	gsend := groupSend([]byte("hello group"), alice2, bob)
	webpush := api.PushRegistration{Kind: api.PushWebPush, Endpoint: "https://push.example.com/wpush/v2/fuzz",
		P256DH: testkit.NewWebPushKey(f), Auth: []byte("0123456789abcdef")}

	routes := []fzRoute{
		{pattern: "POST /v1/registration/code", path: "/v1/registration/code",
			seeds: []any{api.RequestCode{Number: testkit.TestNumber()}, api.RequestCode{Number: "+14155552671"}}},
		{pattern: "POST /v1/registration/verify", path: "/v1/registration/verify", secret: []string{"code"},
			seeds: []any{verify}},
		{pattern: "POST /v1/devices/link", path: "/v1/devices/link", secret: []string{"provisioning_code"},
			seeds: []any{api.Link{AccountID: carol.AccountID, ProvisioningCode: pc.Code, DeviceKeys: carol.Identity.DeviceKeys(f, 9)}}},
		// No device waits at this address: a good body gets a 404.
		{pattern: "PUT /v1/provisioning/{address}", path: "/v1/provisioning/fuzz-address", as: alice,
			seeds: []any{api.ProvisioningMessage{Body: []byte("sealed")}}},
		{pattern: "PUT /v1/keys", path: "/v1/keys", as: alice,
			seeds: []any{keys, api.SetKeys{PreKeys: keys.PreKeys}}},
		{pattern: "POST /v1/messages", path: "/v1/messages", as: alice,
			seeds: []any{send}},
		{pattern: "POST /v1/groups", path: "/v1/groups", as: alice,
			seeds: []any{api.CreateGroup{Members: []string{bob.AccountID}}, api.CreateGroup{Members: []string{}}}},
		{pattern: "POST /v1/groups/{id}/members", path: "/v1/groups/" + changed.GroupID + "/members", as: alice,
			seeds: []any{api.AddMembers{Members: []string{dave.AccountID}}}},
		{pattern: "POST /v1/groups/{id}/admins", path: "/v1/groups/" + changed.GroupID + "/admins", as: alice,
			seeds: []any{api.Promote{AccountID: bob.AccountID}}},
		{pattern: "POST /v1/groups/{id}/messages", path: "/v1/groups/" + stable.GroupID + "/messages", as: alice,
			seeds: []any{gsend}},
		{pattern: "PUT /v1/account/privacy", path: "/v1/account/privacy", as: alice,
			seeds: []any{api.Privacy{LastSeen: api.VisibleEveryone}, api.Privacy{LastSeen: api.VisibleNobody}}},
		{pattern: "PUT /v1/account/registration-lock", path: "/v1/account/registration-lock", as: alice, secret: []string{"token"},
			seeds: []any{api.SetRegistrationLock{Token: bytes.Repeat([]byte{7}, 32), Salt: bytes.Repeat([]byte{8}, 32)}}},
		{pattern: "POST /v1/attachments", path: "/v1/attachments", as: alice,
			seeds: []any{api.NewAttachment{Size: 100}}},
		{pattern: "PUT /v1/push", path: "/v1/push", as: carol, secret: []string{"token", "endpoint", "p256dh", "auth", "channel_uri"},
			seeds: []any{webpush, api.PushRegistration{Kind: api.PushFCM, Token: "fcm-token-0123456789"}}},
	}

	// A probe device of its own, secondary so that DELETE /v1/account is
	// refused before it could erase anything.
	probePrimary := n.RegisterNumber(f, numbers[4], private)
	probe := n.Link(f, probePrimary, 2)
	secrets := []string{private, pc.Code}
	for _, d := range []*testkit.Device{alice, alice2, bob, carol, dave, probePrimary, probe} {
		secrets = append(secrets, d.Password)
	}
	env := &fzEnv{n: n, log: log, routes: routes, codes: fzCodes(f), secrets: secrets}
	fzProbe(f, env, probe)
	if s := log.take(); strings.Contains(s, "level=ERROR") {
		f.Fatalf("the node logged an error during setup:\n%s", s)
	}
	return env
}

// fzCodes returns the error codes internal/api declares (its Code*
// constants), read from its source so that a new code needs no edit here.
func fzCodes(f *testing.F) map[string]bool {
	file, err := parser.ParseFile(token.NewFileSet(), "../api/api.go", nil, 0)
	if err != nil {
		f.Fatal(err)
	}
	codes := map[string]bool{}
	for _, d := range file.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Code") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						f.Fatal(err)
					}
					codes[v] = true
				}
			}
		}
	}
	if !codes[api.CodeInvalidJSON] || !codes[api.CodeBadRequest] {
		f.Fatalf("read no error codes from internal/api: %v", codes)
	}
	return codes
}

// fzProbe holds the route table to the router: every route is fuzzed or
// listed in fzNoBody, every fuzzed route answers a cut-off JSON body with
// invalid_json (so its path and credential are right), and no listed route
// does (so it really takes no JSON body).
func fzProbe(f *testing.F, env *fzEnv, probe *testkit.Device) {
	fuzzed := map[string]bool{}
	for _, r := range env.routes {
		if fuzzed[r.pattern] {
			f.Fatalf("route %s twice in the table", r.pattern)
		}
		fuzzed[r.pattern] = true
	}
	const cut = `{"probe":`
	for _, p := range env.n.Node.Router.Patterns() {
		_, inList := fzNoBody[p]
		switch {
		case fuzzed[p] && inList:
			f.Errorf("route %s is both fuzzed and listed as taking no body", p)
		case fuzzed[p]:
		case !inList:
			f.Errorf("route %s is neither fuzzed nor listed in fzNoBody: add it to the fuzz table if it takes a JSON body", p)
		default:
			method, path, _ := strings.Cut(p, " ")
			// Fill the variables with values of the right shape.
			for v, x := range map[string]string{"{id}": biAttachmentID, "{device_id}": "2147483000", "{account}": biUnknownAccount,
				"{account_id}": biUnknownAccount, "{number}": "+15550001999", "{n}": "1"} {
				path = strings.ReplaceAll(path, v, x)
			}
			status, _, body := fzServe(f.Context(), env.n, method, path, probe, []byte(cut))
			var e api.Error
			_ = json.Unmarshal(body, &e)
			if e.Code == api.CodeInvalidJSON || e.Code == api.CodePayloadTooLarge || status >= 500 {
				f.Errorf("route %s, listed as taking no body, answers a JSON body: %d %s", p, status, biShort(body))
			}
		}
	}
	for p := range fzNoBody {
		if !slices.Contains(env.n.Node.Router.Patterns(), p) && p != "GET /attachments/{id}" {
			f.Errorf("fzNoBody lists %s, which is no route", p)
		}
	}
	for _, r := range env.routes {
		method, _, _ := strings.Cut(r.pattern, " ")
		status, _, body := fzServe(f.Context(), env.n, method, r.path, r.as, []byte(cut))
		var e api.Error
		if err := json.Unmarshal(body, &e); err != nil || status != http.StatusBadRequest || e.Code != api.CodeInvalidJSON {
			f.Errorf("%s %s: a cut-off body got %d %s, want 400 %s", method, r.path, status, biShort(body), api.CodeInvalidJSON)
		}
	}
	if f.Failed() {
		f.FailNow()
	}
}

// fzServe calls the router in process with a JSON body, as dev (nil: no
// credential). The remote address is httptest's 192.0.2.1.
func fzServe(ctx context.Context, n *testkit.Node, method, path string, dev *testkit.Device, body []byte) (int, http.Header, []byte) {
	req := httptest.NewRequestWithContext(ctx, method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if dev != nil {
		req.SetBasicAuth(dev.User(), dev.Password)
	}
	rec := httptest.NewRecorder()
	n.Node.Router.ServeHTTP(rec, req)
	return rec.Code, rec.Header(), rec.Body.Bytes()
}

func FuzzJSONRoutes(f *testing.F) {
	env := fzSetup(f)
	for i, r := range env.routes {
		for _, s := range r.seeds {
			var b []byte
			switch s := s.(type) {
			case []byte:
				b = s
			case string:
				b = []byte(s)
			default:
				var err error
				if b, err = json.Marshal(s); err != nil {
					f.Fatal(err)
				}
			}
			f.Add(uint8(i), b)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := env.routes[int(route)%len(env.routes)]
		method, _, _ := strings.Cut(r.pattern, " ")
		before := biStats(t, env.n)
		status, hdr, out := fzServe(t.Context(), env.n, method, r.path, r.as, body)
		t.Logf("%s: %d %s", r.pattern, status, biShort(out))
		if logged := env.log.take(); strings.Contains(logged, "level=ERROR") {
			t.Errorf("%s: the node logged an error:\n%s", r.pattern, logged)
		}
		switch {
		case status >= 200 && status < 300:
			if len(out) > 0 && !json.Valid(out) {
				t.Errorf("%s: %d with a body that is not JSON: %q", r.pattern, status, biShort(out))
			}
			return
		case status < 400 || status >= 500:
			t.Fatalf("%s: status %d (%s) for %q", r.pattern, status, biShort(out), biShort(body))
		case status == http.StatusUnauthorized:
			t.Fatalf("%s: the test's credential was refused: %s", r.pattern, biShort(out))
		}
		var e api.Error
		_ = json.Unmarshal(out, &e)
		biCheck(t, status, hdr, out, status, e.Code) // JSON, Content-Type, a message
		if !env.codes[e.Code] {
			t.Errorf("%s: error code %q is not one of internal/api's (%s)", r.pattern, e.Code, biShort(out))
		}
		for _, s := range fzSecrets(env.secrets, r, status, body) {
			if strings.Contains(string(out), s) {
				t.Errorf("%s: the refusal repeats the secret %q: %s", r.pattern, s, biShort(out))
			}
		}
		if after := biStats(t, env.n); !maps.Equal(after, before) {
			t.Errorf("%s: rows changed by a refused request (%d %s): %v, were %v", r.pattern, status, e.Code, after, before)
		}
	})
}

// fzSecrets returns what a refusal of body must not hold: the test's own
// secrets, and the values of the route's secret fields anywhere in the
// body. Short values, which an error message may hold by chance, are left
// out, and so are values of a body too large to be read (413).
func fzSecrets(fixed []string, r fzRoute, status int, body []byte) []string {
	out := slices.Clone(fixed)
	var v any
	if len(r.secret) == 0 || status == http.StatusRequestEntityTooLarge || json.Unmarshal(body, &v) != nil {
		return out
	}
	var walk func(x any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && slices.Contains(r.secret, k) && fzLongEnough(s) {
					out = append(out, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// fzLongEnough: at least 8 bytes, or 6 with a digit (a code).
func fzLongEnough(s string) bool {
	return len(s) >= 8 || len(s) >= 6 && strings.ContainsFunc(s, unicode.IsDigit)
}
