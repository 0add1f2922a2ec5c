package attachment

import "errors"

var (
	// ErrTooLarge means a plaintext size beyond MaxSize.
	ErrTooLarge = errors.New("attachment too large")
	// ErrSourceSize means the plaintext source held more or fewer bytes
	// than the size given to Encrypt (a file that changed while read).
	ErrSourceSize = errors.New("attachment source does not hold the size it was said to")
	// ErrBadKey means a key that is not KeySize bytes.
	ErrBadKey = errors.New("attachment key is not 64 bytes")
	// ErrBlobSize means a blob whose size is not the one its plaintext size
	// gives (EncryptedSize).
	ErrBlobSize = errors.New("attachment blob has the wrong size")
	// ErrMAC means a blob altered after encryption, or encrypted with
	// another key.
	ErrMAC = errors.New("attachment blob does not authenticate (tampered with, or another key)")
	// ErrDigest means a blob other than the one the sender uploaded.
	ErrDigest = errors.New("attachment blob does not match its digest")
	// ErrPadding means an authentic blob whose padding is not valid: the
	// sender made it wrong.
	ErrPadding = errors.New("attachment plaintext padding is not valid")
)
