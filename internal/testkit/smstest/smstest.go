package smstest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// gateway is what both fakes share: the codes received, the failures to
// answer with, and counters.
type gateway struct {
	t *testing.T

	mu       sync.Mutex // guards the following fields
	codes    map[string][]string
	fail     []int // statuses for the next requests
	requests int   // every request, failed ones included
	problems []string
}

func newGateway(t *testing.T) *gateway { return &gateway{t: t, codes: map[string][]string{}} }

// FailNext answers the next len(statuses) requests with these statuses
// (after checking them).
func (g *gateway) FailNext(statuses ...int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fail = append(g.fail, statuses...)
}

// Requests counts every request that arrived.
func (g *gateway) Requests() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests
}

// Problems lists what the fake refused (bad signatures, missing fields).
func (g *gateway) Problems() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.problems...)
}

// Delivered counts the codes accepted for number.
func (g *gateway) Delivered(number string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.codes[number])
}

// Code waits for a code for number and returns the latest.
func (g *gateway) Code(t testing.TB, number string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		g.mu.Lock()
		cs := g.codes[number]
		g.mu.Unlock()
		if len(cs) > 0 {
			return cs[len(cs)-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no code for %s arrived", number)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// begin counts a request and returns the status to fail it with, or 0.
func (g *gateway) begin() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests++
	if len(g.fail) == 0 {
		return 0
	}
	s := g.fail[0]
	g.fail = g.fail[1:]
	return s
}

func (g *gateway) refuse(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	g.mu.Lock()
	g.problems = append(g.problems, msg)
	g.mu.Unlock()
	http.Error(w, msg, status)
}

func (g *gateway) accept(number, code string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.codes[number] = append(g.codes[number], code)
}

// Webhook is an operator's SMS webhook.
type Webhook struct {
	*gateway
	URL    string
	Secret string
	// MaxSkew is how far the signed time may be from the receiver's.
	MaxSkew time.Duration

	seenMu sync.Mutex // guards seen
	seen   map[string]bool
}

// NewWebhook starts a webhook that checks signatures with secret.
func NewWebhook(t *testing.T, secret string) *Webhook {
	w := &Webhook{gateway: newGateway(t), Secret: secret, MaxSkew: 5 * time.Minute, seen: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(srv.Close)
	w.URL = srv.URL + "/sms?token=in-the-query"
	return w
}

var sigHeader = regexp.MustCompile(`^t=([0-9]+),v1=([0-9a-f]{64})$`)

func (w *Webhook) serve(rw http.ResponseWriter, r *http.Request) {
	fail := w.begin()
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		w.refuse(rw, http.StatusBadRequest, "read body: %v", err)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/sms" || r.URL.Query().Get("token") != "in-the-query" {
		w.refuse(rw, http.StatusNotFound, "%s %s", r.Method, r.URL.Path)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		w.refuse(rw, http.StatusUnsupportedMediaType, "content type %q", ct)
		return
	}
	m := sigHeader.FindStringSubmatch(r.Header.Get("Hush-Signature"))
	if m == nil {
		w.refuse(rw, http.StatusUnauthorized, "no or malformed Hush-Signature")
		return
	}
	ts, _ := strconv.ParseInt(m[1], 10, 64)
	if d := time.Since(time.Unix(ts, 0)); d > w.MaxSkew || d < -w.MaxSkew {
		w.refuse(rw, http.StatusUnauthorized, "signature time off by %s", d)
		return
	}
	mac := hmac.New(sha256.New, []byte(w.Secret))
	mac.Write([]byte(m[1] + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	got, _ := hex.DecodeString(m[2])
	if !hmac.Equal(got, want) {
		w.refuse(rw, http.StatusUnauthorized, "signature does not verify")
		return
	}
	var msg struct {
		ID        string    `json:"id"`
		Number    string    `json:"number"`
		Code      string    `json:"code"`
		ExpiresAt time.Time `json:"expires_at"`
		Text      string    `json:"text"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		w.refuse(rw, http.StatusBadRequest, "body: %v", err)
		return
	}
	switch {
	case msg.ID == "" || r.Header.Get("Hush-Delivery") != msg.ID:
		w.refuse(rw, http.StatusBadRequest, "id %q, Hush-Delivery %q", msg.ID, r.Header.Get("Hush-Delivery"))
		return
	case !regexp.MustCompile(`^[0-9]{6}$`).MatchString(msg.Code) || !strings.Contains(msg.Text, msg.Code):
		w.refuse(rw, http.StatusBadRequest, "code or text malformed")
		return
	case msg.ExpiresAt.IsZero() || !strings.HasPrefix(msg.Number, "+"):
		w.refuse(rw, http.StatusBadRequest, "number or expires_at missing")
		return
	}
	if fail != 0 {
		http.Error(rw, "induced failure", fail)
		return
	}
	w.seenMu.Lock()
	dup := w.seen[msg.ID]
	w.seen[msg.ID] = true
	w.seenMu.Unlock()
	if !dup {
		w.accept(msg.Number, msg.Code)
	}
	rw.WriteHeader(http.StatusNoContent)
}

// Twilio is Twilio's Messages API for one account.
type Twilio struct {
	*gateway
	URL        string // for --twilio-base-url
	AccountSID string
	AuthToken  string
	// Senders are the From numbers and Messaging Service SIDs it accepts.
	Senders map[string]bool
}

// NewTwilio starts the API for an account.
func NewTwilio(t *testing.T, accountSID, authToken string, senders ...string) *Twilio {
	tw := &Twilio{gateway: newGateway(t), AccountSID: accountSID, AuthToken: authToken, Senders: map[string]bool{}}
	for _, s := range senders {
		tw.Senders[s] = true
	}
	srv := httptest.NewServer(http.HandlerFunc(tw.serve))
	t.Cleanup(srv.Close)
	tw.URL = srv.URL
	return tw
}

var sixDigits = regexp.MustCompile(`\b[0-9]{6}\b`)

func (tw *Twilio) twilioError(w http.ResponseWriter, status, code int, msg string) {
	tw.mu.Lock()
	tw.problems = append(tw.problems, msg)
	tw.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status})
}

func (tw *Twilio) serve(w http.ResponseWriter, r *http.Request) {
	fail := tw.begin()
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+tw.AccountSID+"/Messages.json" {
		tw.twilioError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != tw.AccountSID || pass != tw.AuthToken {
		tw.twilioError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		tw.twilioError(w, http.StatusBadRequest, 21000, "content type "+ct)
		return
	}
	if err := r.ParseForm(); err != nil {
		tw.twilioError(w, http.StatusBadRequest, 21000, err.Error())
		return
	}
	to, body := r.PostForm.Get("To"), r.PostForm.Get("Body")
	from, service := r.PostForm.Get("From"), r.PostForm.Get("MessagingServiceSid")
	code := sixDigits.FindString(body)
	switch {
	case to == "" || !strings.HasPrefix(to, "+"):
		tw.twilioError(w, http.StatusBadRequest, 21211, "The 'To' number "+to+" is not a valid phone number.")
		return
	case (from == "") == (service == ""):
		tw.twilioError(w, http.StatusBadRequest, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message")
		return
	case !tw.Senders[from+service]:
		tw.twilioError(w, http.StatusBadRequest, 21606, "The From phone number "+from+service+" is not a valid message-capable phone number for this account")
		return
	case code == "":
		tw.twilioError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	}
	if fail != 0 {
		tw.twilioError(w, fail, 20500+fail%100, "induced failure")
		return
	}
	tw.accept(to, code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"sid": "SM" + strings.Repeat("0", 32), "account_sid": tw.AccountSID, "to": to, "from": from, "status": "queued", "body": body})
}
