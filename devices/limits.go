package devices

import (
	"context"
	"strconv"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/httpx"
	"github.com/hushmsg/hush/internal/ratelimit"
)

// limits are the service's rate limits, all shared by every node.
type limits struct {
	codeNumber, codeAddr, verifyAddr ratelimit.Limiter
	directory, directoryDay          ratelimit.Limiter
	// SMS budgets: code requests that send an SMS, per country calling
	// code and in all, per hour and per day.
	smsPrefixHour, smsPrefixDay, smsHour, smsDay ratelimit.Limiter
}

func newLimits(cfg Config, b *ratelimit.Buckets) limits {
	return limits{
		codeNumber:    b.Shared("code_per_number", cfg.CodePerNumber),
		codeAddr:      b.Shared("code_per_address", cfg.CodePerAddress),
		verifyAddr:    b.Shared("verify_per_address", cfg.VerifyPerAddr),
		directory:     b.Shared("directory", cfg.DirectoryLimit),
		directoryDay:  b.Shared("directory_day", cfg.DirectoryDaily),
		smsPrefixHour: b.Shared("sms_prefix_hour", cfg.SMSPrefixHour),
		smsPrefixDay:  b.Shared("sms_prefix_day", cfg.SMSPrefixDay),
		smsHour:       b.Shared("sms_hour", cfg.SMSHour),
		smsDay:        b.Shared("sms_day", cfg.SMSDay),
	}
}

// take takes a token from l's bucket for key, or answers 429 rate_limited
// naming what was limited.
func take(ctx context.Context, l ratelimit.Limiter, key, what string) error {
	ok, wait, err := l.Take(ctx, key)
	switch {
	case err != nil:
		return err
	case !ok:
		return httpx.RateLimited(wait, what)
	}
	return nil
}

// smsBudget takes a code's SMS from the budgets of the number's country
// calling code and of the whole server, or answers 429 sms_budget.
func (l *limits) smsBudget(ctx context.Context, number string) error {
	prefix := callingCode(number)
	for _, b := range []struct {
		l       ratelimit.Limiter
		key, of string
	}{
		{l.smsPrefixHour, prefix, "+" + prefix},
		{l.smsPrefixDay, prefix, "+" + prefix},
		{l.smsHour, "", "this server"},
		{l.smsDay, "", "this server"},
	} {
		ok, wait, err := b.l.Take(ctx, b.key)
		if err != nil {
			return err
		}
		if !ok {
			return errSMSBudget(wait, b.of)
		}
	}
	return nil
}

func errSMSBudget(wait time.Duration, of string) *httpx.Error {
	e := httpx.RateLimited(wait, "codes")
	e.Body.Code = api.CodeSMSBudget
	e.Body.Message = "the SMS budget of " + of + " is spent; retry in " + strconv.Itoa(e.Body.RetryAfter) + " s"
	return e
}

// callingCode is the number's country calling code ("1", "44"), or "" for
// one that does not parse (CheckNumber has refused it before).
func callingCode(number string) string {
	n, err := phonenumbers.Parse(number, "ZZ")
	if err != nil {
		return ""
	}
	return strconv.Itoa(int(n.GetCountryCode()))
}
