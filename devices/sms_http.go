package devices

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpSender posts one message to a gateway with bounded retries: a
// network error, a timeout, 429 or a 5xx answer is tried again after a
// growing wait, any other 4xx is final.
type httpSender struct {
	name       string // sender label in metrics and logs
	timeout    time.Duration
	attempts   int
	backoff    time.Duration
	maxBackoff time.Duration
	log        *slog.Logger
	sent       *prometheus.CounterVec // by sender, outcome
}

// maxAnswer bounds what is read of a gateway's answer.
const maxAnswer = 64 << 10

// post sends the request newReq builds (a fresh one per attempt) and
// returns the final answer's body on success. describe turns a 4xx body
// into a reason for the error (never the body itself, which may echo the
// number).
func (h *httpSender) post(ctx context.Context, m CodeMessage, newReq func(context.Context) (*http.Request, error), client *http.Client, describe func([]byte) string) error {
	wait := h.backoff
	var last string
	for attempt := 1; ; attempt++ {
		retryAfter, reason, err := h.once(ctx, newReq, client, describe)
		switch {
		case err == nil:
			h.count("sent")
			return nil
		case errors.Is(err, ErrSMSRejected):
			h.count("rejected")
			h.log.WarnContext(ctx, "sms rejected by the gateway", "sender", h.name, "message", m, "reason", reason)
			return err
		}
		last = reason
		if attempt >= h.attempts || ctx.Err() != nil {
			break
		}
		h.count("retried")
		d := wait
		if retryAfter > 0 {
			d = min(retryAfter, h.maxBackoff)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		wait = min(2*wait, max(h.maxBackoff, h.backoff))
	}
	h.count("failed")
	h.log.WarnContext(ctx, "sms not delivered to the gateway", "sender", h.name, "message", m, "attempts", h.attempts, "reason", last)
	return fmt.Errorf("%w (%s: %s)", ErrSMSUnavailable, h.name, last)
}

// once makes one attempt.
func (h *httpSender) once(ctx context.Context, newReq func(context.Context) (*http.Request, error), client *http.Client, describe func([]byte) string) (retryAfter time.Duration, reason string, err error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := newReq(ctx)
	if err != nil {
		return 0, "request", fmt.Errorf("%w: %w", ErrSMSRejected, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		// The url.Error names the URL, which may hold a secret: keep
		// only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, "timeout", ErrSMSUnavailable
		}
		return 0, err.Error(), ErrSMSUnavailable
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	switch s := resp.StatusCode; {
	case s >= 200 && s <= 299:
		return 0, "", nil
	case s == http.StatusTooManyRequests || s >= 500:
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			retryAfter = time.Duration(secs) * time.Second
		}
		return retryAfter, fmt.Sprintf("status %d", s), ErrSMSUnavailable
	default:
		reason := fmt.Sprintf("status %d", s)
		if describe != nil {
			if d := describe(body); d != "" {
				reason += " " + d
			}
		}
		return 0, reason, ErrSMSRejected
	}
}

func (h *httpSender) count(outcome string) {
	if h.sent != nil {
		h.sent.WithLabelValues(h.name, outcome).Inc()
	}
}
