package signal

import (
	"errors"
	"fmt"
)

// Errors are matched with errors.Is. More specific errors wrap the general
// ones they are a case of: a bad MAC, a duplicate message or a counter out
// of the window are all invalid messages.
var (
	// ErrInvalidMessage: the input is not a message this package can
	// accept (malformed, truncated, unauthenticated, undecryptable).
	ErrInvalidMessage = errors.New("signal: invalid message")
	// ErrInvalidMAC: the message's MAC does not verify with the session.
	ErrInvalidMAC = fmt.Errorf("%w: MAC verification failed", ErrInvalidMessage)
	// ErrDuplicateMessage: the message key was already used (a replay or
	// a message delivered twice).
	ErrDuplicateMessage = fmt.Errorf("%w: duplicate message", ErrInvalidMessage)
	// ErrTooFarAhead: the message's counter jumps further than the
	// session allows (MaxForwardJumps).
	ErrTooFarAhead = fmt.Errorf("%w: message from too far into the future", ErrInvalidMessage)
	// ErrVersion: the message has a version this package does not speak
	// (a legacy version or one from the future).
	ErrVersion = fmt.Errorf("%w: unsupported version", ErrInvalidMessage)
	// ErrInvalidKey: bytes that do not encode a key of the expected type.
	ErrInvalidKey = errors.New("signal: invalid key")
	// ErrInvalidSignature: a signature that does not verify (prekey
	// bundles, sender-key messages).
	ErrInvalidSignature = errors.New("signal: invalid signature")
	// ErrNoSession: there is no usable session with the address.
	ErrNoSession = errors.New("signal: no session")
	// ErrUntrustedIdentity is wrapped by UntrustedIdentityError.
	ErrUntrustedIdentity = errors.New("signal: untrusted identity")
	// ErrInvalidPreKeyID: a one-time prekey id that is not in the store.
	ErrInvalidPreKeyID = errors.New("signal: unknown prekey id")
	// ErrInvalidSignedPreKeyID: a signed prekey id that is not in the store.
	ErrInvalidSignedPreKeyID = errors.New("signal: unknown signed prekey id")
	// ErrInvalidKyberPreKeyID: a Kyber prekey id that is not in the store.
	ErrInvalidKyberPreKeyID = errors.New("signal: unknown kyber prekey id")
	// ErrInvalidRecord: a stored record (session, sender key, prekey)
	// that cannot be decoded or is inconsistent.
	ErrInvalidRecord = errors.New("signal: invalid record")
	// ErrNoSenderKey: no sender key state for the sender, distribution
	// and chain.
	ErrNoSenderKey = errors.New("signal: no sender key state")
	// ErrInvalidArgument: a caller error (bad address, bad device id).
	ErrInvalidArgument = errors.New("signal: invalid argument")
	// ErrInvalidFingerprint: a scannable fingerprint that cannot be
	// decoded or has another version.
	ErrInvalidFingerprint = errors.New("signal: invalid fingerprint")
)

// UntrustedIdentityError reports that the identity store does not trust
// the identity key of Address (it changed and was not approved).
type UntrustedIdentityError struct {
	Address ProtocolAddress
}

func (e *UntrustedIdentityError) Error() string {
	return "signal: untrusted identity for " + e.Address.String()
}

// Unwrap returns ErrUntrustedIdentity.
func (e *UntrustedIdentityError) Unwrap() error { return ErrUntrustedIdentity }
