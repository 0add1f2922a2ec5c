package spqr

import (
	"bytes"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Serialization of PqRatchetState (the reference's src/proto/
// pq_ratchet.proto), by hand, exactly as prost writes it: fields in field
// number order, proto3 defaults (zero numbers, empty bytes, false) left
// out, present sub-messages always written, every element of a repeated
// field written. Decoding accepts what prost accepts: unknown fields are
// skipped, a repeated sub-message is merged, a repeated scalar keeps its
// last value.

// pqState is a decoded PqRatchetState.
type pqState struct {
	vn    *versionNegotiation // nil once negotiation is over
	chain *chain              // nil before the first key is needed
	v1    *braid              // nil for version 0
}

type versionNegotiation struct {
	authKey    []byte
	direction  int32
	minVersion int32
	params     *chainParams // nil if absent
}

// layout says which fields a V1 state kind has, where, and their sizes.
type layout struct {
	uc       []ucField
	enc, dec protowire.Number // field of the encoder / decoder in the Chunked message, 0 if none
	encN     int              // points (or coefficients) per polynomial of the encoder
	decNeed  uint32           // pts_needed of the decoder
}

type ucField struct {
	num  protowire.Number
	slot func(*braid) *[]byte
	size int
}

func hdrSlot(b *braid) *[]byte { return &b.hdr }
func ekSlot(b *braid) *[]byte  { return &b.ek }
func dkSlot(b *braid) *[]byte  { return &b.dk }
func ct1Slot(b *braid) *[]byte { return &b.ct1 }
func esSlot(b *braid) *[]byte  { return &b.es }

var (
	fEK3  = ucField{3, ekSlot, kemEKSize}
	fDK3  = ucField{3, dkSlot, kemDKSize}
	fDK4  = ucField{4, dkSlot, kemDKSize}
	fCT14 = ucField{4, ct1Slot, kemCT1Size}
	fHdr3 = ucField{3, hdrSlot, kemHeaderSize}
	fES3  = ucField{3, esSlot, kemESSize}
	fES4  = ucField{4, esSlot, kemESSize}
	fEK4  = ucField{4, ekSlot, kemEKSize}
	fCT15 = ucField{5, ct1Slot, kemCT1Size}
)

// Encoded payload sizes in points per polynomial (bytes / 32).
const (
	hdrPts = hdrPayloadSize / chunkSize
	ekPts  = kemEKSize / chunkSize
	ct1Pts = kemCT1Size / chunkSize
	ct2Pts = ct2PayloadSize / chunkSize
)

var layouts = map[stateKind]layout{
	keysUnsampled:        {},
	keysSampled:          {uc: []ucField{fEK3, fDK4}, enc: 2, encN: hdrPts},
	headerSent:           {uc: []ucField{fDK3}, enc: 2, encN: ekPts, dec: 3, decNeed: kemCT1Size / 2},
	ct1Received:          {uc: []ucField{fDK3, fCT14}, enc: 2, encN: ekPts},
	ekSentCt1Received:    {uc: []ucField{fDK3, fCT14}, dec: 3, decNeed: ct2PayloadSize / 2},
	noHeaderReceived:     {dec: 2, decNeed: hdrPayloadSize / 2},
	headerReceived:       {uc: []ucField{fHdr3}, dec: 2, decNeed: kemEKSize / 2},
	ct1Sampled:           {uc: []ucField{fHdr3, fES4, fCT15}, enc: 2, encN: ct1Pts, dec: 3, decNeed: kemEKSize / 2},
	ekReceivedCt1Sampled: {uc: []ucField{fES3, fEK4, fCT15}, enc: 2, encN: ct1Pts},
	ct1Acknowledged:      {uc: []ucField{fHdr3, fES4, fCT15}, dec: 2, decNeed: kemEKSize / 2},
	ct2Sampled:           {enc: 2, encN: ct2Pts},
}

// ---- encoding ----

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendInt32Field(b []byte, num protowire.Number, v int32) []byte {
	return appendVarintField(b, num, uint64(int64(v)))
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return appendBytesAlways(b, num, v)
}

// appendBytesAlways writes an element of a repeated bytes field.
func appendBytesAlways(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// appendMsg writes a sub-message whose body is appended by body, in place:
// a one-byte length is reserved and the body moved if its length needs
// more.
func appendMsg(b []byte, num protowire.Number, body func([]byte) []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	at := len(b)
	b = append(b, 0)
	b = body(b)
	n := len(b) - at - 1
	if k := protowire.SizeVarint(uint64(n)); k > 1 {
		for range k - 1 {
			b = append(b, 0)
		}
		copy(b[at+k:], b[at+1:at+1+n])
	}
	protowire.AppendVarint(b[:at], uint64(n))
	return b
}

func (s *pqState) marshal() []byte {
	b := make([]byte, 0, 8192)
	if s.vn != nil {
		b = appendMsg(b, 1, s.vn.appendTo)
	}
	if s.chain != nil {
		b = appendMsg(b, 2, s.chain.appendTo)
	}
	if s.v1 != nil {
		b = appendMsg(b, 3, s.v1.appendTo)
	}
	return b
}

func (vn *versionNegotiation) appendTo(b []byte) []byte {
	b = appendBytesField(b, 1, vn.authKey)
	b = appendInt32Field(b, 2, vn.direction)
	b = appendInt32Field(b, 3, vn.minVersion)
	if vn.params != nil {
		b = appendMsg(b, 4, vn.params.appendTo)
	}
	return b
}

func (p chainParams) appendTo(b []byte) []byte {
	b = appendVarintField(b, 1, uint64(p.maxJump))
	return appendVarintField(b, 2, uint64(p.maxOOOKeys))
}

func (c *chain) appendTo(b []byte) []byte {
	b = appendInt32Field(b, 1, int32(c.dir))
	b = appendVarintField(b, 2, c.currentEpoch)
	for _, l := range c.links {
		b = appendMsg(b, 3, func(b []byte) []byte {
			b = appendMsg(b, 1, l.send.appendTo)
			return appendMsg(b, 2, l.recv.appendTo)
		})
	}
	b = appendBytesField(b, 4, c.nextRoot)
	b = appendVarintField(b, 5, c.sendEpoch)
	return appendMsg(b, 6, c.params.appendTo)
}

func (d *chainDir) appendTo(b []byte) []byte {
	b = appendVarintField(b, 1, uint64(d.ctr))
	b = appendBytesField(b, 2, d.next)
	return appendBytesField(b, 3, d.prev)
}

func (br *braid) appendTo(b []byte) []byte {
	l := layouts[br.kind]
	return appendMsg(b, protowire.Number(br.kind), func(b []byte) []byte {
		b = appendMsg(b, 1, func(b []byte) []byte {
			b = appendVarintField(b, 1, br.epoch)
			b = appendMsg(b, 2, func(b []byte) []byte {
				b = appendBytesField(b, 1, br.auth.rootKey)
				return appendBytesField(b, 2, br.auth.macKey)
			})
			for _, f := range l.uc {
				b = appendBytesField(b, f.num, *f.slot(br))
			}
			return b
		})
		for num := protowire.Number(2); num <= 3; num++ {
			switch num {
			case l.enc:
				b = appendMsg(b, num, br.enc.appendTo)
			case l.dec:
				b = appendMsg(b, num, br.dec.appendTo)
			}
		}
		return b
	})
}

func (e *encoder) appendTo(b []byte) []byte {
	b = appendVarintField(b, 1, uint64(e.idx))
	for _, p := range e.pts {
		b = appendWords(b, 2, p)
	}
	for _, p := range e.polys {
		b = appendWords(b, 3, p)
	}
	return b
}

// appendWords writes 16-bit words big-endian as one bytes field (always).
func appendWords(b []byte, num protowire.Number, ws []uint16) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(2*len(ws)))
	for _, w := range ws {
		b = append(b, byte(w>>8), byte(w))
	}
	return b
}

func (d *decoder) appendTo(b []byte) []byte {
	b = appendVarintField(b, 1, uint64(d.ptsNeeded))
	b = appendVarintField(b, 2, numPolys)
	for _, pts := range d.pts {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(4*len(pts)))
		for _, pt := range pts {
			b = append(b, byte(pt.x>>8), byte(pt.x), byte(pt.y>>8), byte(pt.y))
		}
	}
	if d.isComplete {
		b = appendVarintField(b, 4, 1)
	}
	return b
}

// ---- decoding ----

var errWireType = fmt.Errorf("%w: wrong wire type", ErrStateDecode)

// field is one decoded protobuf field.
type field struct {
	num protowire.Number
	typ protowire.Type
	x   uint64 // varint value
	v   []byte // bytes value
}

// fields splits b into its fields, skipping nothing: callers ignore the
// numbers they do not know.
func fields(b []byte) ([]field, error) {
	var out []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, ErrStateDecode
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.x, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			f.v, n = protowire.ConsumeBytes(b)
			// Capacity capped: nothing may append into the caller's buffer.
			f.v = f.v[:len(f.v):len(f.v)]
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, ErrStateDecode
		}
		b = b[n:]
		out = append(out, f)
	}
	return out, nil
}

func (f field) varint() (uint64, error) {
	if f.typ != protowire.VarintType {
		return 0, errWireType
	}
	return f.x, nil
}

func (f field) bytes() ([]byte, error) {
	if f.typ != protowire.BytesType {
		return nil, errWireType
	}
	return f.v, nil
}

// merge appends a repeated occurrence of a sub-message: decoding the
// concatenation is protobuf's merge.
func merge(dst *[]byte, present *bool, f field) error {
	v, err := f.bytes()
	if err != nil {
		return err
	}
	if *present {
		*dst = append(append([]byte(nil), *dst...), v...)
	} else {
		*dst = v
	}
	*present = true
	return nil
}

func decodeState(b []byte) (*pqState, error) {
	fs, err := fields(b)
	if err != nil {
		return nil, err
	}
	var vnB, chainB, v1B []byte
	var hasVN, hasChain, hasV1 bool
	for _, f := range fs {
		switch f.num {
		case 1:
			err = merge(&vnB, &hasVN, f)
		case 2:
			err = merge(&chainB, &hasChain, f)
		case 3:
			err = merge(&v1B, &hasV1, f)
		}
		if err != nil {
			return nil, err
		}
	}
	s := &pqState{}
	if hasVN {
		if s.vn, err = decodeVN(vnB); err != nil {
			return nil, err
		}
	}
	if hasChain {
		if s.chain, err = decodeChain(chainB); err != nil {
			return nil, err
		}
	}
	if hasV1 {
		if s.v1, err = decodeBraid(v1B); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func decodeVN(b []byte) (*versionNegotiation, error) {
	fs, err := fields(b)
	if err != nil {
		return nil, err
	}
	vn := &versionNegotiation{}
	var paramsB []byte
	var hasParams bool
	for _, f := range fs {
		var x uint64
		switch f.num {
		case 1:
			vn.authKey, err = f.bytes()
		case 2:
			x, err = f.varint()
			vn.direction = int32(x)
		case 3:
			x, err = f.varint()
			vn.minVersion = int32(x)
		case 4:
			err = merge(&paramsB, &hasParams, f)
		}
		if err != nil {
			return nil, err
		}
	}
	if hasParams {
		p, err := decodeChainParams(paramsB)
		if err != nil {
			return nil, err
		}
		vn.params = &p
	}
	return vn, nil
}

func decodeChainParams(b []byte) (chainParams, error) {
	var p chainParams
	fs, err := fields(b)
	if err != nil {
		return p, err
	}
	for _, f := range fs {
		var x uint64
		switch f.num {
		case 1:
			x, err = f.varint()
			p.maxJump = uint32(x)
		case 2:
			x, err = f.varint()
			p.maxOOOKeys = uint32(x)
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

func decodeDirection(v int32) (Direction, error) {
	switch v {
	case 0:
		return A2B, nil
	case 1:
		return B2A, nil
	}
	return 0, fmt.Errorf("%w: direction %d", ErrStateDecode, v)
}

func decodeChain(b []byte) (*chain, error) {
	fs, err := fields(b)
	if err != nil {
		return nil, err
	}
	c := &chain{}
	var dir int32
	var paramsB []byte
	var hasParams bool
	for _, f := range fs {
		var x uint64
		var v []byte
		switch f.num {
		case 1:
			x, err = f.varint()
			dir = int32(x)
		case 2:
			c.currentEpoch, err = f.varint()
		case 3:
			if v, err = f.bytes(); err == nil {
				var l chainEpoch
				l, err = decodeChainEpoch(v)
				c.links = append(c.links, l)
			}
		case 4:
			c.nextRoot, err = f.bytes()
		case 5:
			c.sendEpoch, err = f.varint()
		case 6:
			err = merge(&paramsB, &hasParams, f)
		}
		if err != nil {
			return nil, err
		}
	}
	if c.dir, err = decodeDirection(dir); err != nil {
		return nil, err
	}
	if !hasParams {
		return nil, fmt.Errorf("%w: chain without params", ErrStateDecode)
	}
	if c.params, err = decodeChainParams(paramsB); err != nil {
		return nil, err
	}
	return c, nil
}

func decodeChainEpoch(b []byte) (chainEpoch, error) {
	var e chainEpoch
	fs, err := fields(b)
	if err != nil {
		return e, err
	}
	var sendB, recvB []byte
	var hasSend, hasRecv bool
	for _, f := range fs {
		switch f.num {
		case 1:
			err = merge(&sendB, &hasSend, f)
		case 2:
			err = merge(&recvB, &hasRecv, f)
		}
		if err != nil {
			return e, err
		}
	}
	if !hasSend || !hasRecv {
		return e, fmt.Errorf("%w: chain epoch without a direction", ErrStateDecode)
	}
	if e.send, err = decodeChainDir(sendB); err != nil {
		return e, err
	}
	e.recv, err = decodeChainDir(recvB)
	return e, err
}

func decodeChainDir(b []byte) (chainDir, error) {
	var d chainDir
	fs, err := fields(b)
	if err != nil {
		return d, err
	}
	for _, f := range fs {
		var x uint64
		switch f.num {
		case 1:
			x, err = f.varint()
			d.ctr = uint32(x)
		case 2:
			d.next, err = f.bytes()
		case 3:
			// Cloned: trimming and taking keys rewrite it in place.
			d.prev, err = f.bytes()
			d.prev = bytes.Clone(d.prev)
		}
		if err != nil {
			return d, err
		}
	}
	if len(d.next) != 0 && len(d.next) != 32 {
		return d, fmt.Errorf("%w: chain key of %d bytes", ErrStateDecode, len(d.next))
	}
	if len(d.prev)%historyEntry != 0 {
		return d, fmt.Errorf("%w: key history of %d bytes", ErrStateDecode, len(d.prev))
	}
	return d, nil
}

func decodeBraid(b []byte) (*braid, error) {
	fs, err := fields(b)
	if err != nil {
		return nil, err
	}
	// inner_state is a oneof: the last member present wins, and repeated
	// occurrences of the same member merge.
	var kind stateKind
	var inner []byte
	for _, f := range fs {
		if f.num < 1 || f.num > 11 {
			continue
		}
		v, err := f.bytes()
		if err != nil {
			return nil, err
		}
		switch {
		case stateKind(f.num) != kind:
			kind, inner = stateKind(f.num), v
		default:
			inner = append(append([]byte(nil), inner...), v...)
		}
	}
	if kind == 0 {
		return nil, fmt.Errorf("%w: no V1 state", ErrStateDecode)
	}
	l := layouts[kind]
	fs, err = fields(inner)
	if err != nil {
		return nil, err
	}
	var ucB, encB, decB []byte
	var hasUC, hasEnc, hasDec bool
	for _, f := range fs {
		switch f.num {
		case 1:
			err = merge(&ucB, &hasUC, f)
		case l.enc:
			err = merge(&encB, &hasEnc, f)
		case l.dec:
			err = merge(&decB, &hasDec, f)
		}
		if err != nil {
			return nil, err
		}
	}
	if !hasUC || (l.enc != 0 && !hasEnc) || (l.dec != 0 && !hasDec) {
		return nil, fmt.Errorf("%w: incomplete V1 state", ErrStateDecode)
	}
	br := &braid{kind: kind}
	if err := br.decodeUC(ucB, l); err != nil {
		return nil, err
	}
	if l.enc != 0 {
		if br.enc, err = decodeEncoder(encB, l.encN); err != nil {
			return nil, err
		}
	}
	if l.dec != 0 {
		if br.dec, err = decodeDecoder(decB, l.decNeed); err != nil {
			return nil, err
		}
	}
	return br, nil
}

func (br *braid) decodeUC(b []byte, l layout) error {
	fs, err := fields(b)
	if err != nil {
		return err
	}
	var authB []byte
	var hasAuth bool
	for _, f := range fs {
		switch f.num {
		case 1:
			br.epoch, err = f.varint()
		case 2:
			err = merge(&authB, &hasAuth, f)
		default:
			for _, uf := range l.uc {
				if uf.num == f.num {
					*uf.slot(br), err = f.bytes()
				}
			}
		}
		if err != nil {
			return err
		}
	}
	if !hasAuth {
		return fmt.Errorf("%w: no authenticator", ErrStateDecode)
	}
	if br.epoch == 0 {
		return fmt.Errorf("%w: epoch 0", ErrStateDecode)
	}
	for _, uf := range l.uc {
		if len(*uf.slot(br)) != uf.size {
			return fmt.Errorf("%w: field %d of %d bytes", ErrStateDecode, uf.num, len(*uf.slot(br)))
		}
	}
	fs, err = fields(authB)
	if err != nil {
		return err
	}
	for _, f := range fs {
		switch f.num {
		case 1:
			br.auth.rootKey, err = f.bytes()
		case 2:
			br.auth.macKey, err = f.bytes()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func decodeEncoder(b []byte, n int) (*encoder, error) {
	fs, err := fields(b)
	if err != nil {
		return nil, err
	}
	e := &encoder{}
	var pts, polys [][]byte
	for _, f := range fs {
		var x uint64
		var v []byte
		switch f.num {
		case 1:
			x, err = f.varint()
			e.idx = uint32(x)
		case 2:
			v, err = f.bytes()
			pts = append(pts, v)
		case 3:
			v, err = f.bytes()
			polys = append(polys, v)
		}
		if err != nil {
			return nil, err
		}
	}
	lists := polys
	if len(pts) > 0 {
		if len(polys) > 0 {
			return nil, fmt.Errorf("%w: encoder with points and polynomials", ErrStateDecode)
		}
		lists = pts
	}
	if len(lists) != numPolys {
		return nil, fmt.Errorf("%w: encoder with %d lists", ErrStateDecode, len(lists))
	}
	words := make([][]uint16, numPolys)
	for i, v := range lists {
		if len(v) != 2*n {
			return nil, fmt.Errorf("%w: encoder list of %d bytes", ErrStateDecode, len(v))
		}
		words[i] = make([]uint16, n)
		for j := range n {
			words[i][j] = uint16(v[2*j])<<8 | uint16(v[2*j+1])
		}
	}
	if len(pts) > 0 {
		e.pts = words
	} else {
		e.polys = words
	}
	return e, nil
}

func decodeDecoder(b []byte, need uint32) (*decoder, error) {
	fs, err := fields(b)
	if err != nil {
		return nil, err
	}
	d := &decoder{}
	var lists [][]byte
	for _, f := range fs {
		var x uint64
		var v []byte
		switch f.num {
		case 1:
			x, err = f.varint()
			d.ptsNeeded = uint32(x)
		case 2:
			_, err = f.varint()
		case 3:
			v, err = f.bytes()
			lists = append(lists, v)
		case 4:
			x, err = f.varint()
			d.isComplete = x != 0
		}
		if err != nil {
			return nil, err
		}
	}
	if d.ptsNeeded != need {
		return nil, fmt.Errorf("%w: decoder expects %d points", ErrStateDecode, d.ptsNeeded)
	}
	if len(lists) != numPolys {
		return nil, fmt.Errorf("%w: decoder with %d lists", ErrStateDecode, len(lists))
	}
	for p, v := range lists {
		if len(v)%4 != 0 {
			return nil, fmt.Errorf("%w: decoder list of %d bytes", ErrStateDecode, len(v))
		}
		d.pts[p] = make([]point, 0, len(v)/4)
		for j := 0; j < len(v); j += 4 {
			pt := point{x: uint16(v[j])<<8 | uint16(v[j+1]), y: uint16(v[j+2])<<8 | uint16(v[j+3])}
			d.pts[p] = insertPoint(d.pts[p], pt)
		}
	}
	return d, nil
}
