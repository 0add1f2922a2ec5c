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
)

var (
	errUnauthorized   = httpx.Errorf(http.StatusUnauthorized, api.CodeUnauthorized, "missing or wrong device credential")
	errInvalidCode    = httpx.Errorf(http.StatusForbidden, api.CodeInvalidCode, "wrong or expired code")
	errTooManyTries   = httpx.Errorf(http.StatusTooManyRequests, api.CodeTooManyAttempts, "code tried too often; request a new one")
	errNotFound       = httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "not found")
	errPrimaryOnly    = httpx.Errorf(http.StatusForbidden, api.CodeForbidden, "only the primary device may do this")
	errTooManyDevices = httpx.Errorf(http.StatusConflict, api.CodeTooManyDevices, "the account has its maximum number of devices")
)
