package spqr

import (
	"bytes"
	"fmt"
	"io"
)

// Version of the post-quantum ratchet: V0 = none, V1 = ML-KEM-768 braid.
type Version uint8

const (
	V0 Version = 0
	V1 Version = 1
)

// Direction of a session's ratchet: the initiator (Alice) is A2B.
type Direction uint8

const (
	A2B Direction = 0
	B2A Direction = 1
)

// ChainParams bound how far a receive may jump and how many out-of-order
// keys are kept (0 means the reference's default: 25,000 and 2,000).
type ChainParams struct {
	MaxJump    uint32
	MaxOOOKeys uint32
}

// Params start a session's ratchet.
type Params struct {
	AuthKey     []byte // 32 bytes from PQXDH
	Version     Version
	Direction   Direction
	MinVersion  Version
	ChainParams ChainParams
}

// stored returns the params as the state keeps them: a default value is
// written as zero, as the reference does.
func (p ChainParams) stored() chainParams {
	c := chainParams{maxJump: p.MaxJump, maxOOOKeys: p.MaxOOOKeys}
	if c.maxJump == defaultMaxJump {
		c.maxJump = 0
	}
	if c.maxOOOKeys == defaultMaxOOOKeys {
		c.maxOOOKeys = 0
	}
	return c
}

// InitialState returns the serialized starting state of one side. For V0
// it is empty.
func InitialState(p Params) ([]byte, error) {
	if p.Version > V1 || p.MinVersion > V1 || p.Direction > B2A {
		return nil, ErrInvalidParams
	}
	if p.Version == V0 {
		return nil, nil
	}
	params := p.ChainParams.stored()
	s := &pqState{
		vn: &versionNegotiation{
			authKey:    bytes.Clone(p.AuthKey),
			direction:  int32(p.Direction),
			minVersion: int32(p.MinVersion),
			params:     &params,
		},
		v1: newBraid(p.Direction, p.AuthKey),
	}
	return s.marshal(), nil
}

// Send advances state for an outgoing message. It returns the next state,
// the message to put into SignalMessage.pq_ratchet, and the key to mix into
// the message's keys (nil when there is none yet). rand supplies the key
// pairs and encapsulations of new epochs.
func Send(state []byte, rand io.Reader) (next, msg, key []byte, err error) {
	s, err := decodeState(state)
	if err != nil {
		return nil, nil, nil, err
	}
	if s.v1 == nil {
		return nil, nil, nil, nil
	}
	m, secret, err := s.v1.send(rand)
	if err != nil {
		return nil, nil, nil, err
	}
	c := s.chain
	if c == nil {
		if s.vn == nil {
			return nil, nil, nil, ErrChainNotAvailable
		}
		// Before anything was received, keys flow only if the peer is
		// known to speak V1 (our minimum says so).
		if s.vn.minVersion > int32(V0) {
			if c, err = chainFromVN(s.vn); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	var index uint32
	if c == nil {
		if secret != nil {
			return nil, nil, nil, fmt.Errorf("%w: new epoch without a chain", ErrStateDecode)
		}
	} else {
		if secret != nil {
			if err := c.addEpoch(secret.epoch, secret.secret); err != nil {
				return nil, nil, nil, err
			}
		}
		if index, key, err = c.sendKey(m.epoch - 1); err != nil {
			return nil, nil, nil, err
		}
	}
	s.chain = c // sending never changes the version negotiation
	return s.marshal(), m.marshal(index), key, nil
}

// Recv advances state for an incoming message (the content of
// SignalMessage.pq_ratchet, possibly empty). It returns the next state and
// the message's key (nil when there is none).
func Recv(state, msg []byte) (next, key []byte, err error) {
	s, err := decodeState(state)
	if err != nil {
		return nil, nil, err
	}
	v := V0
	if len(msg) > 0 {
		if msg[0] > byte(V1) {
			// A version above ours: ignore it and keep speaking ours.
			return bytes.Clone(state), nil, nil
		}
		v = Version(msg[0])
	}
	ours := V0
	if s.v1 != nil {
		ours = V1
	}
	if v < ours {
		// The peer speaks a lower version: negotiate down if we may.
		if s.vn == nil {
			return nil, nil, ErrVersionMismatch
		}
		if int32(v) < s.vn.minVersion {
			return nil, nil, ErrMinimumVersion
		}
		c := s.chain
		if c == nil {
			if c, err = chainFromVN(s.vn); err != nil {
				return nil, nil, err
			}
		}
		// Only V0 is below V1: no braid, and no further negotiation.
		s = &pqState{chain: c}
	}
	if s.v1 == nil {
		return nil, nil, nil
	}
	m, index, err := parseMessage(msg)
	if err != nil {
		return nil, nil, err
	}
	secret, err := s.v1.recv(m)
	if err != nil {
		return nil, nil, err
	}
	c := s.chain
	if c == nil {
		if s.vn == nil {
			return nil, nil, ErrChainNotAvailable
		}
		if c, err = chainFromVN(s.vn); err != nil {
			return nil, nil, err
		}
	}
	if secret != nil {
		if err := c.addEpoch(secret.epoch, secret.secret); err != nil {
			return nil, nil, err
		}
	}
	if m.epoch-1 != 0 || index != 0 {
		if key, err = c.recvKey(m.epoch-1, index); err != nil {
			return nil, nil, err
		}
	}
	// Receiving ends version negotiation.
	s.vn, s.chain = nil, c
	return s.marshal(), key, nil
}

func chainFromVN(vn *versionNegotiation) (*chain, error) {
	dir, err := decodeDirection(vn.direction)
	if err != nil {
		return nil, err
	}
	if vn.params == nil {
		return nil, ErrChainNotAvailable
	}
	return newChain(vn.authKey, dir, *vn.params), nil
}
