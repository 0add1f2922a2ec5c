package content

import "errors"

// ErrInvalid is wrapped by every decoding error: bad padding, a malformed
// protobuf, a field of the wrong wire type, or a value out of bounds.
var ErrInvalid = errors.New("invalid content")
