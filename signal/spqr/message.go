package spqr

import "fmt"

// The V1 message (the reference's src/v1/chunked/states/serialize.rs), which
// goes into SignalMessage.pq_ratchet:
//
//	version  1 byte (1)
//	epoch    varint
//	index    varint (the message's index in its key chain)
//	type     1 byte (msgNone .. msgCt2)
//	chunk    varint chunk index, then 32 bytes (types hdr, ek, ekCt1Ack, ct1, ct2)
//
// Trailing bytes are ignored, leaving room for later versions.

type msgType uint8

const (
	msgNone msgType = iota
	msgHdr
	msgEk
	msgEkCt1Ack
	msgCt1Ack
	msgCt1
	msgCt2
)

func (t msgType) hasChunk() bool {
	return t == msgHdr || t == msgEk || t == msgEkCt1Ack || t == msgCt1 || t == msgCt2
}

type message struct {
	epoch uint64
	typ   msgType
	chunk chunk // when typ.hasChunk()
}

const maxVarintLen = 10

func (m *message) marshal(index uint32) []byte {
	out := make([]byte, 0, 48)
	out = append(out, byte(V1))
	out = appendVarint(out, m.epoch)
	out = appendVarint(out, uint64(index))
	out = append(out, byte(m.typ))
	if m.typ.hasChunk() {
		out = appendVarint(out, uint64(m.chunk.index))
		out = append(out, m.chunk.data[:]...)
	}
	return out
}

// parseMessage decodes a V1 message and the index it carries.
func parseMessage(b []byte) (message, uint32, error) {
	var m message
	if len(b) == 0 || b[0] != byte(V1) {
		return m, 0, fmt.Errorf("%w: not a version 1 message", ErrMsgDecode)
	}
	at := 1
	epoch, err := readVarint(b, &at)
	if err != nil {
		return m, 0, err
	}
	if epoch == 0 {
		return m, 0, fmt.Errorf("%w: epoch 0", ErrMsgDecode)
	}
	index, err := readVarint(b, &at)
	if err != nil {
		return m, 0, err
	}
	if index > 0xffffffff {
		return m, 0, fmt.Errorf("%w: index out of range", ErrMsgDecode)
	}
	if at >= len(b) {
		return m, 0, fmt.Errorf("%w: truncated", ErrMsgDecode)
	}
	m.epoch, m.typ = epoch, msgType(b[at])
	at++
	if m.typ > msgCt2 {
		return m, 0, fmt.Errorf("%w: unknown type %d", ErrMsgDecode, m.typ)
	}
	if m.typ.hasChunk() {
		ci, err := readVarint(b, &at)
		if err != nil {
			return m, 0, err
		}
		if at+chunkSize > len(b) || ci > 0xffff {
			return m, 0, fmt.Errorf("%w: bad chunk", ErrMsgDecode)
		}
		m.chunk.index = uint16(ci)
		copy(m.chunk.data[:], b[at:at+chunkSize])
	}
	return m, uint32(index), nil
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// readVarint reads a varint of at most ten bytes as the reference does
// (bits past 64 are dropped, not refused).
func readVarint(b []byte, at *int) (uint64, error) {
	var v uint64
	for i := 0; i < maxVarintLen && *at+i < len(b); i++ {
		c := b[*at+i]
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			*at += i + 1
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: bad varint", ErrMsgDecode)
}
