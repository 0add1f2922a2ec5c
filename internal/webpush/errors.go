package webpush

import "errors"

// ErrUndecryptable is wrapped by every error of Decrypt: the message is
// not an RFC 8291 message for these keys.
var ErrUndecryptable = errors.New("webpush: undecryptable message")

// ErrKeys is returned for a private key that is not P-256 or an auth
// secret that is not 16 octets: a fault of the caller, not of the message.
var ErrKeys = errors.New("webpush: not a P-256 key and a 16-octet auth secret")
