package devices

import (
	"errors"
	"net/http"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/httpx"
)

// Store errors.
var (
	ErrNotFound       = errors.New("not found")
	ErrTooManyDevices = errors.New("too many devices")
	// ErrTooManyAttempts: a code or a registration lock was tried as
	// often as it may be.
	ErrTooManyAttempts = errors.New("too many attempts")
	// ErrRegistrationLocked: the number's account is protected by its
	// registration lock.
	ErrRegistrationLocked = errors.New("registration locked")
)

// SMS errors.
var (
	// ErrSMSRejected: the gateway refused the message (a 4xx answer); it
	// is not retried.
	ErrSMSRejected = errors.New("sms gateway rejected the message")
	// ErrSMSUnavailable: the gateway could not be reached or kept
	// failing (network errors, 5xx, 429) after the retries.
	ErrSMSUnavailable = errors.New("sms gateway unavailable")
)

var (
	errUnauthorized   = httpx.Errorf(http.StatusUnauthorized, api.CodeUnauthorized, "missing or wrong device credential")
	errInvalidCode    = httpx.Errorf(http.StatusForbidden, api.CodeInvalidCode, "wrong or expired code")
	errTooManyTries   = httpx.Errorf(http.StatusTooManyRequests, api.CodeTooManyAttempts, "code tried too often; request a new one")
	errNotFound       = httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "not found")
	errPrimaryOnly    = httpx.Errorf(http.StatusForbidden, api.CodeForbidden, "only the primary device may do this")
	errTooManyDevices = httpx.Errorf(http.StatusConflict, api.CodeTooManyDevices, "the account has its maximum number of devices")
	errNoSMS          = httpx.Errorf(http.StatusForbidden, api.CodeRegistrationClosed, "this server sends no SMS: only its test numbers can register")
)
