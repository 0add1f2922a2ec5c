package devices

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// TwilioAPI is Twilio's REST API.
const TwilioAPI = "https://api.twilio.com"

// TwilioConfig sends codes through Twilio's Messages API.
type TwilioConfig struct {
	AccountSID string
	AuthToken  Secret
	// From is the sending number (E.164) or alphanumeric sender id;
	// MessagingServiceSID a Messaging Service (MG...). One of the two.
	From                string
	MessagingServiceSID string
	// BaseURL is TwilioAPI, or a regional edge or a test server.
	BaseURL string
}

var (
	twilioAccount = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	twilioService = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
)

type twilio struct {
	httpSender
	cfg      TwilioConfig
	endpoint *url.URL
	client   *http.Client
}

func newTwilio(cfg TwilioConfig, h httpSender, client *http.Client, sent *prometheus.CounterVec) (*twilio, error) {
	switch {
	case !twilioAccount.MatchString(cfg.AccountSID):
		return nil, errors.New("--twilio-account-sid must be a Twilio account SID (AC and 32 hex digits)")
	case cfg.AuthToken == "":
		return nil, errors.New("--twilio-auth-token (HUSH_TWILIO_AUTH_TOKEN) is needed with --sms twilio")
	case (cfg.From == "") == (cfg.MessagingServiceSID == ""):
		return nil, errors.New("--sms twilio needs one of --twilio-from and --twilio-messaging-service-sid")
	case cfg.MessagingServiceSID != "" && !twilioService.MatchString(cfg.MessagingServiceSID):
		return nil, errors.New("--twilio-messaging-service-sid must be a Messaging Service SID (MG and 32 hex digits)")
	}
	base, err := checkURL("--twilio-base-url", cmp.Or(cfg.BaseURL, TwilioAPI))
	if err != nil {
		return nil, err
	}
	end := base.JoinPath("2010-04-01", "Accounts", cfg.AccountSID, "Messages.json")
	h.name, h.sent = SMSTwilio, sent
	return &twilio{httpSender: h, cfg: cfg, endpoint: end, client: client}, nil
}

// SendCode implements SMSSender: a form POST with HTTP Basic auth
// (account SID, auth token), answered 201 with the message resource.
func (t *twilio) SendCode(ctx context.Context, m CodeMessage) error {
	form := url.Values{"To": {m.Number}, "Body": {m.Text()}}
	if t.cfg.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", t.cfg.MessagingServiceSID)
	} else {
		form.Set("From", t.cfg.From)
	}
	body := form.Encode()
	return t.post(ctx, m, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.endpoint.String(), strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.SetBasicAuth(t.cfg.AccountSID, t.cfg.AuthToken.Reveal())
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "hushd")
		return req, nil
	}, t.client, twilioReason)
}

// twilioReason keeps Twilio's numeric error code of a 4xx answer (its
// message may quote the number).
func twilioReason(body []byte) string {
	var e struct {
		Code int `json:"code"`
	}
	if json.Unmarshal(body, &e) != nil || e.Code == 0 {
		return ""
	}
	return fmt.Sprintf("twilio error %d", e.Code)
}
