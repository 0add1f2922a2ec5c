// TEMPORARY STUB — replaced by the real package when branch spqr is merged.
//
// Package spqr is a placeholder with the agreed API of the sparse
// post-quantum ratchet. It handles only V0 (no post-quantum ratchet: empty
// state, empty messages, no keys) and answers every V1 request with
// ErrV1Unsupported. Delete this file when the real package lands.
package spqr

import (
	"errors"
	"io"
)

// Version of the post-quantum ratchet: V0 = none, V1 = ML-KEM-768 braid.
type Version uint8

// Versions.
const (
	V0 Version = 0
	V1 Version = 1
)

// Direction of a session's ratchet: the initiator (Alice) is A2B.
type Direction uint8

// Directions.
const (
	A2B Direction = 0
	B2A Direction = 1
)

// ChainParams bound how far a receive may jump and how many out-of-order
// keys are kept (0 means the reference's default).
type ChainParams struct {
	MaxJump    uint32
	MaxOOOKeys uint32
}

// Params set up an initial state.
type Params struct {
	AuthKey     []byte
	Version     Version
	Direction   Direction
	MinVersion  Version
	ChainParams ChainParams
}

// ErrV1Unsupported is returned by this stub for anything but V0.
var ErrV1Unsupported = errors.New("spqr: V1 is not implemented by this stub")

// InitialState returns the empty state for V0.
func InitialState(p Params) ([]byte, error) {
	if p.Version != V0 || p.MinVersion != V0 {
		return nil, ErrV1Unsupported
	}
	return nil, nil
}

// Send handles the empty (V0) state only.
func Send(state []byte, rand io.Reader) (next []byte, msg []byte, key []byte, err error) {
	if len(state) != 0 {
		return nil, nil, nil, ErrV1Unsupported
	}
	return nil, nil, nil, nil
}

// Recv handles the empty (V0) state and empty messages only.
func Recv(state []byte, msg []byte) (next []byte, key []byte, err error) {
	if len(state) != 0 || len(msg) != 0 {
		return nil, nil, ErrV1Unsupported
	}
	return nil, nil, nil
}
