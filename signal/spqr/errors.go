package spqr

import "errors"

// Errors returned by InitialState, Send and Recv. Errors that carry data
// (an epoch, an index) wrap one of these; match them with errors.Is. None
// of them ever carries key material.
var (
	// ErrStateDecode: the state is not a valid serialized state.
	ErrStateDecode = errors.New("spqr: invalid state")
	// ErrMsgDecode: the message is truncated or malformed.
	ErrMsgDecode = errors.New("spqr: invalid message")
	// ErrMACVerify: a header or ciphertext failed its authenticator MAC.
	ErrMACVerify = errors.New("spqr: MAC verification failed")
	// ErrEpochOutOfRange: the message is for an epoch this state cannot
	// handle (too far ahead, or no longer kept).
	ErrEpochOutOfRange = errors.New("spqr: epoch out of range")
	// ErrVersionMismatch: the peer uses a lower version after negotiation
	// has ended.
	ErrVersionMismatch = errors.New("spqr: version mismatch after negotiation")
	// ErrMinimumVersion: the peer uses a version below our minimum.
	ErrMinimumVersion = errors.New("spqr: version below minimum")
	// ErrKeyJump: the message index is further ahead than the chain allows.
	ErrKeyJump = errors.New("spqr: message index too far ahead")
	// ErrKeyTrimmed: the key of this old message was discarded.
	ErrKeyTrimmed = errors.New("spqr: message key trimmed")
	// ErrKeyAlreadyRequested: the key of this message was already used
	// (a replay).
	ErrKeyAlreadyRequested = errors.New("spqr: message key already used")
	// ErrErroneousData: the peer sent data that contradicts what it sent
	// before (an encapsulation key that does not match its header).
	ErrErroneousData = errors.New("spqr: erroneous data from peer")
	// ErrSendKeyEpochDecreased: the state asks to send in an epoch older
	// than one already used.
	ErrSendKeyEpochDecreased = errors.New("spqr: send epoch decreased")
	// ErrInvalidParams: InitialState got an unknown version or direction.
	ErrInvalidParams = errors.New("spqr: invalid parameters")
	// ErrChainNotAvailable: the state has no key chain and no way to make one.
	ErrChainNotAvailable = errors.New("spqr: chain not available")
	// ErrForeignState: the state holds an encapsulation state made by the
	// reference implementation in a phase where this implementation cannot
	// finish it (it lacks the header needed to rederive the randomness).
	// States made by this package never hit this.
	ErrForeignState = errors.New("spqr: unsupported foreign encapsulation state")
	// ErrRandom: reading the random source failed.
	ErrRandom = errors.New("spqr: random source failed")
)
