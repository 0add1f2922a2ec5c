package pushtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// FCMScope is the OAuth 2.0 scope for sending through FCM.
const FCMScope = "https://www.googleapis.com/auth/firebase.messaging"

// FCM is a fake of the FCM HTTP v1 API and of Google's OAuth 2.0 token
// endpoint for service accounts (RFC 7523 JWT bearer grant).
type FCM struct {
	URL             string       // server root; the token endpoint is URL+"/token"
	Endpoint        string       // URL+"/v1", for FCMConfig.Endpoint
	ProjectID       string       // "hush-test"
	ClientEmail     string       // the service account
	CredentialsJSON []byte       // a service account key whose token_uri is this server
	Client          *http.Client // trusts the server's certificate

	key *rsa.PrivateKey
	srv *server

	knobs
	journal[FCMMessage]

	tokMu     sync.Mutex // guards the following fields
	tokens    map[string]bool
	tokenAsks int
}

// FCMMessage is one message FCM accepted.
type FCMMessage struct {
	Token           string
	Priority        string // android.priority
	TTL             string // android.ttl
	CollapseKey     string // android.collapse_key
	Data            map[string]string
	HasNotification bool   // a notification block (there must be none)
	Raw             []byte // the request's "message" object as sent
}

// An RSA key takes a while to make; every fake of a process shares one.
var fcmKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// StartFCM starts a fake FCM for the test's lifetime.
func StartFCM(t testing.TB) *FCM {
	t.Helper()
	key, err := fcmKey()
	if err != nil {
		t.Fatal(err)
	}
	f := &FCM{ProjectID: "hush-test", ClientEmail: "hush-push@hush-test.iam.gserviceaccount.com", key: key, tokens: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("POST /v1/projects/{project}/messages:send", f.send)
	f.srv = startTLS(t, mux, true)
	f.URL = f.srv.URL
	f.Endpoint = f.URL + "/v1"
	f.Client = f.srv.Client()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f.CredentialsJSON, err = json.Marshal(map[string]string{
		"type":                        "service_account",
		"project_id":                  f.ProjectID,
		"private_key_id":              randomHex(20),
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                f.ClientEmail,
		"client_id":                   "100000000000000000001",
		"auth_uri":                    f.URL + "/auth",
		"token_uri":                   f.URL + "/token",
		"auth_provider_x509_cert_url": f.URL + "/certs",
		"universe_domain":             "googleapis.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Gone makes FCM answer 404 UNREGISTERED for token.
func (f *FCM) Gone(token string) { f.markGone(token) }

// Messages returns the messages accepted so far, in order.
func (f *FCM) Messages() []FCMMessage { return f.all("") }

// Count returns how many messages were accepted for token.
func (f *FCM) Count(token string) int { return f.count(token) }

// Wait returns the messages for token (every message when token is empty)
// once there are at least n.
func (f *FCM) Wait(t testing.TB, token string, n int) []FCMMessage {
	t.Helper()
	return f.wait(t, token, n)
}

// TokenRequests counts the access tokens asked for.
func (f *FCM) TokenRequests() int {
	f.tokMu.Lock()
	defer f.tokMu.Unlock()
	return f.tokenAsks
}

// token is the JWT bearer grant (RFC 7523 §2.1): the assertion is an RS256
// JWT signed with the service account's key, iss = client_email, aud =
// token_uri, scope naming FCM.
func (f *FCM) token(w http.ResponseWriter, r *http.Request) {
	f.tokMu.Lock()
	f.tokenAsks++
	f.tokMu.Unlock()
	oauthErr := func(code, desc string) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
	}
	if err := r.ParseForm(); err != nil {
		oauthErr("invalid_request", "bad form")
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		oauthErr("unsupported_grant_type", "grant_type "+g)
		return
	}
	if err := f.checkAssertion(r.PostForm.Get("assertion")); err != nil {
		oauthErr("invalid_grant", err.Error())
		return
	}
	tok := "ya29." + randomToken(32)
	f.tokMu.Lock()
	f.tokens[tok] = true
	f.tokMu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})
}

func (f *FCM) checkAssertion(assertion string) error {
	header, claims, signed, sig, err := jwtParts(assertion)
	if err != nil {
		return err
	}
	if header["alg"] != "RS256" {
		return fmt.Errorf("alg %v, want RS256", header["alg"])
	}
	digest := sha256.Sum256(signed)
	if err := rsa.VerifyPKCS1v15(&f.key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		return fmt.Errorf("invalid JWT signature")
	}
	if claims["iss"] != f.ClientEmail {
		return fmt.Errorf("iss %v", claims["iss"])
	}
	if claims["aud"] != f.URL+"/token" {
		return fmt.Errorf("aud %v", claims["aud"])
	}
	scope, _ := claims["scope"].(string)
	if !containsField(scope, FCMScope) {
		return fmt.Errorf("scope %q lacks %s", scope, FCMScope)
	}
	exp, err := numericDate(claims, "exp")
	if err != nil {
		return err
	}
	iat, err := numericDate(claims, "iat")
	if err != nil {
		return err
	}
	now := time.Now()
	if !exp.After(now) || exp.Sub(iat) > time.Hour || iat.After(now.Add(time.Minute)) {
		return fmt.Errorf("JWT not within its validity")
	}
	return nil
}

func containsField(s, want string) bool {
	for _, f := range strings.Fields(s) {
		if f == want {
			return true
		}
	}
	return false
}

// fcmError writes an error in the format of the FCM v1 API (google.rpc.Status
// with an FcmError detail).
func fcmError(w http.ResponseWriter, status int, rpcStatus, fcmCode, msg string) {
	e := map[string]any{"code": status, "message": msg, "status": rpcStatus}
	if fcmCode != "" {
		e["details"] = []any{map[string]string{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcmCode}}
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func (f *FCM) send(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ValidateOnly bool            `json:"validate_only"`
		Message      json.RawMessage `json:"message"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	var m struct {
		Token        string            `json:"token"`
		Topic        string            `json:"topic"`
		Data         map[string]string `json:"data"`
		Notification json.RawMessage   `json:"notification"`
		Android      struct {
			Priority    string `json:"priority"`
			TTL         string `json:"ttl"`
			CollapseKey string `json:"collapse_key"`
		} `json:"android"`
	}
	if err == nil {
		err = json.Unmarshal(req.Message, &m)
	}
	mode, gone := f.attempt(m.Token)
	switch mode {
	case Hang:
		f.srv.hang(r)
		return
	case Unavailable:
		retryAfter(w)
		fcmError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable.")
		return
	case Throttle:
		retryAfter(w)
		fcmError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for quota metric.")
		return
	}
	f.tokMu.Lock()
	authorized := f.tokens[bearer(r)]
	f.tokMu.Unlock()
	if !authorized {
		fcmError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "", "Request had invalid authentication credentials.")
		return
	}
	if r.PathValue("project") != f.ProjectID {
		fcmError(w, http.StatusForbidden, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch")
		return
	}
	if err != nil || m.Token == "" || m.Topic != "" {
		fcmError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Request contains an invalid argument.")
		return
	}
	if gone {
		fcmError(w, http.StatusNotFound, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": "projects/" + f.ProjectID + "/messages/0:" + randomHex(8)})
	f.add(m.Token, FCMMessage{
		Token:           m.Token,
		Priority:        m.Android.Priority,
		TTL:             m.Android.TTL,
		CollapseKey:     m.Android.CollapseKey,
		Data:            m.Data,
		HasNotification: len(m.Notification) > 0,
		Raw:             req.Message,
	})
}
