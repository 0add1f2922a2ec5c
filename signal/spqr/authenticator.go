package spqr

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// Labels of the reference's key derivations and MACs (src/authenticator.rs,
// src/v1/unchunked, src/chain.rs).
const (
	labelAuthUpdate = "Signal_PQCKA_V1_MLKEM768:Authenticator Update"
	labelMACCT      = "Signal_PQCKA_V1_MLKEM768:ciphertext"
	labelMACHdr     = "Signal_PQCKA_V1_MLKEM768:ekheader"
	labelSCKAKey    = "Signal_PQCKA_V1_MLKEM768:SCKA Key"
	labelChainStart = "Signal PQ Ratchet V1 Chain  Start" // two spaces, as the reference has it
	labelChainAdd   = "Signal PQ Ratchet V1 Chain Add Epoch"
	labelChainNext  = "Signal PQ Ratchet V1 Chain Next"
)

const macSize = 32

var zeroSalt = make([]byte, 32)

// kdf is HKDF-SHA256 (RFC 5869) producing n bytes.
func kdf(salt, ikm []byte, info string, n int) []byte {
	out, err := hkdf.Key(sha256.New, ikm, salt, info, n)
	if err != nil {
		// Only for n > 255*32, which no caller asks for.
		panic("spqr: hkdf: " + err.Error())
	}
	return out
}

func epochInfo(label string, epoch uint64) string {
	return label + string(binary.BigEndian.AppendUint64(nil, epoch))
}

// authenticator MACs the header and the ciphertext of each epoch with a
// key that every epoch's shared secret updates, so a peer who did not
// take part in the previous epochs cannot inject its own.
type authenticator struct {
	rootKey, macKey []byte
}

func newAuthenticator(authKey []byte, epoch uint64) authenticator {
	a := authenticator{rootKey: make([]byte, 32), macKey: make([]byte, 32)}
	a.update(epoch, authKey)
	return a
}

func (a *authenticator) update(epoch uint64, k []byte) {
	ikm := append(append([]byte(nil), a.rootKey...), k...)
	out := kdf(zeroSalt, ikm, epochInfo(labelAuthUpdate, epoch), 64)
	a.rootKey, a.macKey = out[:32], out[32:]
}

func (a *authenticator) mac(label string, epoch uint64, data []byte) []byte {
	h := hmac.New(sha256.New, a.macKey)
	h.Write([]byte(label))
	h.Write(binary.BigEndian.AppendUint64(nil, epoch))
	h.Write(data)
	return h.Sum(nil)
}

func (a *authenticator) macCT(epoch uint64, ct []byte) []byte { return a.mac(labelMACCT, epoch, ct) }

func (a *authenticator) macHdr(epoch uint64, hdr []byte) []byte {
	return a.mac(labelMACHdr, epoch, hdr)
}

func (a *authenticator) verify(label string, epoch uint64, data, want []byte) error {
	if !hmac.Equal(a.mac(label, epoch, data), want) {
		return ErrMACVerify
	}
	return nil
}
