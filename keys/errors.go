package keys

import (
	"errors"
	"net/http"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/httpx"
)

// ErrNotFound is returned by a Store for an unknown account or device.
var ErrNotFound = errors.New("not found")

var (
	errBadSignature = httpx.Errorf(http.StatusUnprocessableEntity, api.CodeBadSignature, "a prekey signature does not verify against the identity key")
	errNotFound     = httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "no such account or device")
)

// KeyError says which key is malformed; it answers 400 invalid_key.
type KeyError struct {
	Field  string
	Reason string
}

func (e *KeyError) Error() string { return e.Field + ": " + e.Reason }

// HTTP renders e as the 400 answer.
func (e *KeyError) HTTP() *httpx.Error {
	return httpx.Errorf(http.StatusBadRequest, api.CodeInvalidKey, "%s: %s", e.Field, e.Reason)
}
