package client

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/hushmsg/hush/internal/api"
)

// APIError is a non-2xx answer of the server: the HTTP status (or the
// status of a send_result frame) and the error body.
type APIError struct {
	Status int
	Body   api.Error
}

func (e *APIError) Error() string {
	code := e.Body.Code
	if code == "" {
		code = http.StatusText(e.Status)
	}
	if e.Body.Message == "" {
		return fmt.Sprintf("server answered %d %s", e.Status, code)
	}
	return fmt.Sprintf("server answered %d %s: %s", e.Status, code, e.Body.Message)
}

// IsCode reports whether err is an *APIError with the given api.Code*.
func IsCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Body.Code == code
}

// ErrNoCredentials is returned by device routes of a Client made without
// credentials.
var ErrNoCredentials = errors.New("client: this call needs device credentials")

// ErrSocketClosed is returned by socket calls after the socket has ended
// and no closing error from the peer is known.
var ErrSocketClosed = errors.New("client: socket closed")
