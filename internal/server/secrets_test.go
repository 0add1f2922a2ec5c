package server_test

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
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

// TestNoSecretInLogsErrorsOrMetrics runs a node through registration by a
// code, linking, an admin token, an attachment upload, a push registration
// whose wake-up fails, and wrong credentials, logging everything at debug
// level; then it looks for every secret it handed out or was handed in the
// log, in the error answers and in the metrics.
func TestNoSecretInLogsErrorsOrMetrics(t *testing.T) {
	t.Parallel()
	var logs testkit.SyncBuffer
	cfg := server.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Devices.TestNumbers = map[string]string{"+15550009999": testkit.TestCode}
	cfg.Push.Backoff, cfg.Push.MaxBackoff = 10*time.Millisecond, 20*time.Millisecond
	if db := os.Getenv("HUSH_TEST_STORE"); db == "postgres" {
		t.Skip("the log is the same on both stores")
	}
	n := testkit.StartLogged(t, cfg, slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var secrets []string
	var answers []string
	do := func(dev *testkit.Device, method, path string, body any, want int, out any) {
		t.Helper()
		status, b := n.Do(t, dev, method, path, body)
		answers = append(answers, string(b))
		if status != want {
			t.Fatalf("%s %s: %d %s", method, path, status, b)
		}
		if out != nil {
			_ = json.Unmarshal(b, out)
		}
	}

	// Registration with a code from the development outbox.
	number := "+14155550123"
	do(nil, "POST", "/v1/registration/code", api.RequestCode{Number: number}, http.StatusAccepted, nil)
	outbox, err := os.ReadFile(filepath.Join(cfg.DataDir, server.OutboxFile))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(outbox))
	code := fields[len(fields)-1]
	secrets = append(secrets, code)
	id := testkit.NewIdentity(t)
	do(nil, "POST", "/v1/registration/verify", api.Verify{Number: number, Code: "000000", IdentityKey: id.Public(), DeviceKeys: id.DeviceKeys(t, 1)}, http.StatusForbidden, nil)
	var creds api.Credentials
	do(nil, "POST", "/v1/registration/verify", api.Verify{Number: number, Code: code, IdentityKey: id.Public(), DeviceKeys: id.DeviceKeys(t, 1)}, http.StatusOK, &creds)
	alice := &testkit.Device{Credentials: creds, Identity: id, RegistrationID: 1, Number: number}
	secrets = append(secrets, alice.Password)

	// Linking: the provisioning code and the new device's password.
	var pc api.ProvisioningCode
	do(alice, "POST", "/v1/devices/provisioning_code", nil, http.StatusOK, &pc)
	secrets = append(secrets, pc.Code)
	var creds2 api.Credentials
	do(nil, "POST", "/v1/devices/link", api.Link{AccountID: alice.AccountID, ProvisioningCode: pc.Code, DeviceKeys: id.DeviceKeys(t, 2)}, http.StatusOK, &creds2)
	alice2 := &testkit.Device{Credentials: creds2, Identity: id, RegistrationID: 2}
	secrets = append(secrets, alice2.Password)

	// Wrong credentials: the password tried is not echoed or logged.
	wrong := *alice
	wrong.Password = "wrong-password-" + strings.Repeat("x", 20)
	secrets = append(secrets, wrong.Password)
	do(&wrong, "GET", "/v1/devices", nil, http.StatusUnauthorized, nil)

	// An admin token, used, and a forged one.
	token, _, err := n.Node.GDPR.CreateToken(t.Context(), "cli", "officer", gdpr.RoleCompliance)
	if err != nil {
		t.Fatal(err)
	}
	_, secret, _ := strings.Cut(token, ".")
	secrets = append(secrets, token, secret)
	status, body := adminDo(t, n, token, "GET", "/admin/v1/requests", nil)
	equal(t, "admin call", status, http.StatusOK)
	status, body2 := adminDo(t, n, token+"x", "GET", "/admin/v1/requests", nil)
	equal(t, "forged admin call", status, http.StatusUnauthorized)
	answers = append(answers, string(body), string(body2))

	// An attachment: the signatures of its URLs.
	var up api.Upload
	do(alice, "POST", "/v1/attachments", api.NewAttachment{Size: 10}, http.StatusCreated, &up)
	sig := up.Parts[0].URL[strings.Index(up.Parts[0].URL, "sig=")+4:]
	secrets = append(secrets, sig)
	equal(t, "put", putPart(t, n, up.Parts[0], []byte("0123456789")), http.StatusOK)

	// A Web Push registration whose wake-up fails (the host does not
	// resolve): the endpoint's secret path and the keys stay out.
	auth := []byte("0123456789abcdef")
	endpoint := "https://push.invalid/wpush/v2/secret-endpoint-path-0123456789"
	secrets = append(secrets, "secret-endpoint-path-0123456789", base64.StdEncoding.EncodeToString(auth), base64.RawURLEncoding.EncodeToString(auth))
	do(alice2, "PUT", "/v1/push", api.PushRegistration{Kind: api.PushWebPush, Endpoint: endpoint, P256DH: testkit.NewWebPushKey(t), Auth: auth}, http.StatusNoContent, nil)
	do(alice, "POST", "/v1/messages", testkit.Send(alice.AccountID, []byte("note to self"), alice2), http.StatusOK, nil)
	testkit.WaitFor(t, "the wake-up to fail", func() bool { return strings.Contains(logs.String(), "push failed") })

	var vapid struct {
		PrivateKey string `json:"private_key"`
	}
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, server.VAPIDFile))
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(b, &vapid)
	secrets = append(secrets, vapid.PrivateKey)

	metrics := scrape(t, n)
	for _, s := range secrets {
		if s == "" {
			t.Fatal("an empty secret: the test lost track of one")
		}
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log holds a secret (%d bytes)", len(s))
		}
		if strings.Contains(metrics, s) {
			t.Errorf("the metrics hold a secret (%d bytes)", len(s))
		}
		for _, a := range answers {
			if strings.Contains(a, s) && !strings.Contains(a, `"password"`) && !strings.Contains(a, `"code"`) && !strings.Contains(a, "parts") {
				t.Errorf("an error answer holds a secret: %s", a)
			}
		}
	}
	if !strings.Contains(logs.String(), `"level"`) {
		t.Fatal("nothing was logged: the check would prove nothing")
	}
}
