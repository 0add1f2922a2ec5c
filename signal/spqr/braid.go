package spqr

import (
	"bytes"
	"fmt"
	"io"
	"math"
)

// The ML-KEM braid (the reference's src/v1): an epoch is one ML-KEM-768
// exchange. One side (send_ek) makes a key pair and sends its header, then
// its encapsulation key vector; the other side (send_ct) encapsulates as
// soon as it has the header, sends ct1 while the key vector is still
// coming, and ct2 once it has it. Every piece travels as erasure-coded
// chunks, one per message, so the exchange survives lost messages. When an
// epoch completes the roles swap: the side that sent ct2 makes the next key
// pair. Each epoch's shared secret, run through a KDF, feeds the key chain
// and the authenticator.
//
// The eleven states, named and numbered as in pq_ratchet.proto's V1State:
//
//	send_ek: keysUnsampled -> keysSampled -> headerSent -> ct1Received
//	         -> ekSentCt1Received -> (epoch+1) noHeaderReceived
//	send_ct: noHeaderReceived -> headerReceived -> ct1Sampled
//	         -> {ekReceivedCt1Sampled | ct1Acknowledged} -> ct2Sampled
//	         -> (epoch+1) keysUnsampled
type stateKind int

const (
	keysUnsampled stateKind = iota + 1
	keysSampled
	headerSent
	ct1Received
	ekSentCt1Received
	noHeaderReceived
	headerReceived
	ct1Sampled
	ekReceivedCt1Sampled
	ct1Acknowledged
	ct2Sampled
)

// Sizes of the erasure-coded payloads.
const (
	hdrPayloadSize = kemHeaderSize + macSize // 96
	ct2PayloadSize = kemCT2Size + macSize    // 160
)

// braid is one V1 state. Which fields are meaningful depends on kind (see
// kindLayout in state.go).
type braid struct {
	kind  stateKind
	epoch uint64
	auth  authenticator
	hdr   []byte // header received (send_ct)
	ek    []byte // encapsulation key vector: ours (keysSampled) or received
	dk    []byte // our decapsulation key (send_ek)
	ct1   []byte
	es    []byte // encapsulation state (send_ct)
	enc   *encoder
	dec   *decoder
}

type epochSecret struct {
	epoch  uint64
	secret []byte
}

func newBraid(dir Direction, authKey []byte) *braid {
	b := &braid{epoch: 1, auth: newAuthenticator(authKey, 1)}
	if dir == A2B {
		b.kind = keysUnsampled
	} else {
		b.kind = noHeaderReceived
		b.dec = newDecoder(hdrPayloadSize)
	}
	return b
}

func scka(ss []byte, epoch uint64) []byte {
	return kdf(zeroSalt, ss, epochInfo(labelSCKAKey, epoch), 32)
}

// send advances the state for an outgoing message and returns its
// payload and, when this message starts using a new shared secret, that
// secret.
func (b *braid) send(rand io.Reader) (message, *epochSecret, error) {
	m := message{epoch: b.epoch}
	switch b.kind {
	case keysUnsampled:
		keys, err := kemGenerate(rand)
		if err != nil {
			return m, nil, err
		}
		mac := b.auth.macHdr(b.epoch, keys.hdr)
		*b = braid{kind: keysSampled, epoch: b.epoch, auth: b.auth, ek: keys.ek, dk: keys.dk,
			enc: newEncoder(append(keys.hdr, mac...))}
		m.typ, m.chunk = msgHdr, b.enc.next()
	case keysSampled:
		m.typ, m.chunk = msgHdr, b.enc.next()
	case headerSent:
		m.typ, m.chunk = msgEk, b.enc.next()
	case ct1Received:
		m.typ, m.chunk = msgEkCt1Ack, b.enc.next()
	case ekSentCt1Received:
		m.typ = msgCt1Ack
	case noHeaderReceived, ct1Acknowledged:
		m.typ = msgNone
	case headerReceived:
		ct1, es, ss, err := kemEncaps1(b.hdr, rand)
		if err != nil {
			return m, nil, err
		}
		secret := scka(ss, b.epoch)
		b.auth.update(b.epoch, secret)
		*b = braid{kind: ct1Sampled, epoch: b.epoch, auth: b.auth, hdr: b.hdr, es: es, ct1: ct1,
			enc: newEncoder(ct1), dec: b.dec}
		m.typ, m.chunk = msgCt1, b.enc.next()
		return m, &epochSecret{epoch: b.epoch, secret: secret}, nil
	case ct1Sampled, ekReceivedCt1Sampled:
		m.typ, m.chunk = msgCt1, b.enc.next()
	case ct2Sampled:
		m.typ, m.chunk = msgCt2, b.enc.next()
	default:
		return m, nil, ErrStateDecode
	}
	return m, nil, nil
}

// recv advances the state for an incoming message and returns the shared
// secret of an epoch it completes.
func (b *braid) recv(m message) (*epochSecret, error) {
	if m.epoch > b.epoch {
		if b.kind == ct2Sampled && b.epoch < math.MaxUint64 && m.epoch == b.epoch+1 {
			// The peer has our ciphertext and has moved on: our turn to
			// make a key pair.
			*b = braid{kind: keysUnsampled, epoch: b.epoch + 1, auth: b.auth}
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %d", ErrEpochOutOfRange, m.epoch)
	}
	if m.epoch < b.epoch {
		return nil, nil // a late message of an epoch already done
	}
	switch b.kind {
	case keysSampled:
		if m.typ != msgCt1 {
			return nil, nil
		}
		// The peer has our header: start sending the key vector.
		dec := newDecoder(kemCT1Size)
		dec.add(m.chunk)
		*b = braid{kind: headerSent, epoch: b.epoch, auth: b.auth, dk: b.dk,
			enc: newEncoder(b.ek), dec: dec}
	case headerSent:
		if m.typ != msgCt1 {
			return nil, nil
		}
		b.dec.add(m.chunk)
		if ct1 := b.dec.decoded(); ct1 != nil {
			*b = braid{kind: ct1Received, epoch: b.epoch, auth: b.auth, dk: b.dk, ct1: ct1, enc: b.enc}
		}
	case ct1Received:
		if m.typ != msgCt2 {
			return nil, nil
		}
		dec := newDecoder(ct2PayloadSize)
		dec.add(m.chunk)
		*b = braid{kind: ekSentCt1Received, epoch: b.epoch, auth: b.auth, dk: b.dk, ct1: b.ct1, dec: dec}
	case ekSentCt1Received:
		if m.typ != msgCt2 {
			return nil, nil
		}
		b.dec.add(m.chunk)
		payload := b.dec.decoded()
		if payload == nil {
			return nil, nil
		}
		ct2, mac := payload[:kemCT2Size], payload[kemCT2Size:]
		ss, err := kemDecaps(b.dk, b.ct1, ct2)
		if err != nil {
			return nil, err
		}
		secret := scka(ss, b.epoch)
		b.auth.update(b.epoch, secret)
		if err := b.auth.verify(labelMACCT, b.epoch, append(bytes.Clone(b.ct1), ct2...), mac); err != nil {
			return nil, err
		}
		if b.epoch == math.MaxUint64 {
			return nil, fmt.Errorf("%w: epoch overflow", ErrEpochOutOfRange)
		}
		done := &epochSecret{epoch: b.epoch, secret: secret}
		*b = braid{kind: noHeaderReceived, epoch: b.epoch + 1, auth: b.auth, dec: newDecoder(hdrPayloadSize)}
		return done, nil
	case noHeaderReceived:
		if m.typ != msgHdr {
			return nil, nil
		}
		b.dec.add(m.chunk)
		payload := b.dec.decoded()
		if payload == nil {
			return nil, nil
		}
		hdr, mac := payload[:kemHeaderSize], payload[kemHeaderSize:]
		if err := b.auth.verify(labelMACHdr, b.epoch, hdr, mac); err != nil {
			return nil, err
		}
		*b = braid{kind: headerReceived, epoch: b.epoch, auth: b.auth, hdr: hdr, dec: newDecoder(kemEKSize)}
	case ct1Sampled, ct1Acknowledged:
		ack := m.typ == msgEkCt1Ack
		if m.typ != msgEk && !ack {
			return nil, nil
		}
		b.dec.add(m.chunk)
		ek := b.dec.decoded()
		switch {
		case ek != nil:
			if !kemEKMatchesHeader(ek, b.hdr) {
				return nil, ErrErroneousData
			}
			if ack || b.kind == ct1Acknowledged {
				return nil, b.sendCt2(ek)
			}
			*b = braid{kind: ekReceivedCt1Sampled, epoch: b.epoch, auth: b.auth, es: b.es, ek: ek,
				ct1: b.ct1, enc: b.enc}
		case ack && b.kind == ct1Sampled:
			*b = braid{kind: ct1Acknowledged, epoch: b.epoch, auth: b.auth, hdr: b.hdr, es: b.es,
				ct1: b.ct1, dec: b.dec}
		}
	case ekReceivedCt1Sampled:
		if m.typ == msgCt1Ack || m.typ == msgEkCt1Ack {
			return nil, b.sendCt2(b.ek)
		}
	case keysUnsampled, headerReceived, ct2Sampled:
	default:
		return nil, ErrStateDecode
	}
	return nil, nil
}

// sendCt2 finishes the encapsulation and starts sending ct2 and its MAC.
func (b *braid) sendCt2(ek []byte) error {
	ct2, err := kemEncaps2(ek, b.es, b.hdr)
	if err != nil {
		return err
	}
	mac := b.auth.macCT(b.epoch, append(bytes.Clone(b.ct1), ct2...))
	*b = braid{kind: ct2Sampled, epoch: b.epoch, auth: b.auth, enc: newEncoder(append(ct2, mac...))}
	return nil
}
