package httpx

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/clientaddr"
)

// DefaultBodyLimit bounds request bodies unless a handler says otherwise.
const DefaultBodyLimit = 1 << 20

// Error is a domain error that knows its HTTP answer. Handlers return it
// (or wrap it) and WriteError renders it.
type Error struct {
	Status int
	Body   api.Error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Body.Code, e.Body.Message)
}

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Body: api.Error{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// RateLimited builds the 429 answer for a limit that frees up after wait.
func RateLimited(wait time.Duration, what string) *Error {
	secs := int((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	e := Errorf(http.StatusTooManyRequests, api.CodeRateLimited, "too many %s; retry in %d s", what, secs)
	e.Body.RetryAfter = secs
	return e
}

// ErrUnavailable marks a store error that is worth retrying (the database is
// down or busy): it becomes 503 with Retry-After.
var ErrUnavailable = errors.New("storage unavailable")

// WriteJSON writes v with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError renders err: an *Error as itself, ErrUnavailable as 503, and
// anything else as a 500 whose detail goes to the log only.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var he *Error
	var hr interface{ HTTP() *Error }
	switch {
	case errors.As(err, &he):
	case errors.As(err, &hr):
		he = hr.HTTP()
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads this answer and it is no fault.
		he = Errorf(http.StatusServiceUnavailable, api.CodeUnavailable, "request cancelled")
	case errors.Is(err, ErrUnavailable):
		he = Errorf(http.StatusServiceUnavailable, api.CodeUnavailable, "storage unavailable; retry")
		he.Body.RetryAfter = 1
	default:
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "route", r.Pattern, "err", err)
		he = Errorf(http.StatusInternalServerError, api.CodeInternal, "internal error")
	}
	if he.Body.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(he.Body.RetryAfter))
	}
	WriteJSON(w, he.Status, he.Body)
}

// DecodeJSON reads a JSON body of at most limit bytes into v. Unknown
// fields are allowed (clients may be newer); trailing data is not.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return Errorf(http.StatusUnsupportedMediaType, api.CodeUnsupportedMedia, "body must be application/json")
		}
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return jsonError(err)
		}
		return Errorf(http.StatusBadRequest, api.CodeInvalidJSON, "trailing data after the JSON body")
	}
	return nil
}

// MinBodyRate is the slowest a client may send a large body (an upload
// part): ExtendBodyDeadline allows size/MinBodyRate on top of BodyGrace.
const (
	MinBodyRate = 16 << 10 // bytes per second
	BodyGrace   = 30 * time.Second
)

// ExtendBodyDeadline gives a request whose body is size bytes
// BodyGrace + size/MinBodyRate from now to arrive, beyond the server's
// ReadTimeout, which is sized for small JSON bodies.
func ExtendBodyDeadline(w http.ResponseWriter, size int64) {
	d := BodyGrace + time.Duration(size/MinBodyRate)*time.Second
	// ErrNotSupported (a test recorder) leaves the server's deadline.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
}

// BodyTimeout is the error for a body that did not arrive in time.
func BodyTimeout() *Error {
	return Errorf(http.StatusRequestTimeout, api.CodeTimeout, "the request body did not arrive in time")
}

// IsTimeout reports whether err is a read deadline passing.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func jsonError(err error) error {
	var mbe *http.MaxBytesError
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case IsTimeout(err):
		return BodyTimeout()
	case errors.As(err, &mbe):
		return Errorf(http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge, "body larger than %d bytes", mbe.Limit)
	case errors.Is(err, io.EOF):
		return Errorf(http.StatusBadRequest, api.CodeInvalidJSON, "empty body")
	case errors.As(err, &ute):
		return Errorf(http.StatusBadRequest, api.CodeInvalidJSON, "field %q: expected %s", jsonPath(ute.Field), ute.Type)
	case errors.As(err, &se):
		return Errorf(http.StatusBadRequest, api.CodeInvalidJSON, "malformed JSON at byte %d", se.Offset)
	case strings.Contains(err.Error(), "illegal base64"):
		return Errorf(http.StatusBadRequest, api.CodeInvalidJSON, "invalid base64 in a bytes field")
	default:
		return Errorf(http.StatusBadRequest, api.CodeInvalidJSON, "malformed JSON body")
	}
}

// jsonPath drops the Go names of embedded structs from a decoder's field
// path ("DeviceKeys.registration_id" is "registration_id" on the wire).
func jsonPath(field string) string {
	parts := strings.Split(field, ".")
	kept := parts[:0]
	for _, p := range parts {
		if p != "" && (p[0] < 'A' || p[0] > 'Z') {
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 {
		return field
	}
	return strings.Join(kept, ".")
}

// ClientAddr is the key per-address limits count the request's client by
// (clientaddr.Key: an IPv4 address, an IPv6 /64), never logged or stored
// as such. RemoteAddr is the client's once clientaddr's middleware has
// looked behind trusted proxies.
func ClientAddr(r *http.Request) string {
	return clientaddr.Key(r.RemoteAddr)
}

// AccountID checks that s is an account id (a lower-case UUID) and returns it.
func AccountID(s string) (string, error) {
	u, err := uuid.Parse(s)
	if err != nil || len(s) != 36 || u.String() != s {
		return "", Errorf(http.StatusBadRequest, api.CodeBadRequest, "malformed account id")
	}
	return s, nil
}

// CheckUpgrade answers a request that is not a proper WebSocket upgrade with
// our JSON error, before the WebSocket library would answer in plain text.
func CheckUpgrade(r *http.Request) error {
	hasToken := func(header, token string) bool {
		for _, v := range r.Header.Values(header) {
			for _, part := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(part), token) {
					return true
				}
			}
		}
		return false
	}
	if !hasToken("Connection", "upgrade") || !hasToken("Upgrade", "websocket") {
		return Errorf(http.StatusUpgradeRequired, api.CodeBadRequest, "this route is a WebSocket: send an upgrade request")
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		return Errorf(http.StatusBadRequest, api.CodeBadRequest, "Sec-WebSocket-Version must be 13")
	}
	key, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-WebSocket-Key"))
	if err != nil || len(key) != 16 {
		return Errorf(http.StatusBadRequest, api.CodeBadRequest, "Sec-WebSocket-Key must be 16 bytes in base64")
	}
	return nil
}

// MaxDeviceID bounds device ids everywhere (they fit a signed 32-bit column).
const MaxDeviceID = 1<<31 - 1

// ParseDeviceID parses a device id in canonical decimal form, 1..MaxDeviceID.
func ParseDeviceID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || n > MaxDeviceID || strconv.FormatUint(n, 10) != s {
		return 0, false
	}
	return uint32(n), true
}
