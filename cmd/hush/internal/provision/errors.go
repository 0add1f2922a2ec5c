package provision

import "errors"

var (
	// ErrBadLinkCode is wrapped by every ParseLinkCode error.
	ErrBadLinkCode = errors.New("not a valid link code")
	// ErrVersion means a provisioning message of a version this client
	// does not know.
	ErrVersion = errors.New("unsupported provisioning message version")
	// ErrMalformed means a provisioning message too short or with a bad key.
	ErrMalformed = errors.New("malformed provisioning message")
	// ErrDecrypt means the message was not encrypted to this key or was
	// altered on the way.
	ErrDecrypt = errors.New("provisioning message does not decrypt: not for this link code, or tampered with")
	// ErrContent means the decrypted message is not the expected JSON.
	ErrContent = errors.New("provisioning message content is invalid")
)
