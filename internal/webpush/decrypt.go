package webpush

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Sizes fixed by RFC 8291 §4 and RFC 8188 §2.
const (
	// AuthSize is the length of the authentication secret (RFC 8291 §3.2).
	AuthSize = 16
	// KeySize is the length of an uncompressed P-256 public key, the
	// subscription's p256dh and the header's keyid (RFC 8291 §4).
	KeySize = 65
	// headerSize is salt (16) | rs (4) | idlen (1) | keyid (65).
	headerSize = 16 + 4 + 1 + KeySize
	tagSize    = 16
)

func undecryptable(why string) error { return fmt.Errorf("%w: %s", ErrUndecryptable, why) }

// Decrypt opens body, the payload of one Web Push message (Content-Encoding
// aes128gcm), with the subscription's private key priv and authentication
// secret auth. Only a single record is accepted, as RFC 8291 §4 requires.
func Decrypt(priv *ecdh.PrivateKey, auth, body []byte) ([]byte, error) {
	if priv == nil || priv.Curve() != ecdh.P256() || len(auth) != AuthSize {
		return nil, ErrKeys
	}
	// RFC 8188 §2.1: salt (16) | rs (4) | idlen (1) | keyid (idlen), and
	// RFC 8291 §4: keyid is the application server's public key.
	if len(body) < 21 {
		return nil, undecryptable("short header")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != KeySize || len(body) < headerSize {
		return nil, undecryptable("keyid is not a P-256 public key")
	}
	asPublic, record := body[21:headerSize], body[headerSize:]
	// RFC 8188 §2: rs is at least 18; RFC 8291 §4: one record of at most
	// rs octets, holding at least the delimiter and the tag.
	if rs < 18 || uint64(len(record)) > uint64(rs) || len(record) < tagSize+1 {
		return nil, undecryptable("not a single record")
	}
	as, err := ecdh.P256().NewPublicKey(asPublic)
	if err != nil {
		return nil, undecryptable("keyid is not a P-256 public key")
	}
	// RFC 8291 §3.1: ecdh_secret = ECDH(ua_private, as_public).
	secret, err := priv.ECDH(as)
	if err != nil {
		return nil, undecryptable("key agreement failed")
	}
	// RFC 8291 §3.3–3.4: IKM = HKDF(salt = auth_secret, ikm = ecdh_secret,
	// info = "WebPush: info" || 0x00 || ua_public || as_public, 32).
	info := "WebPush: info\x00" + string(priv.PublicKey().Bytes()) + string(asPublic)
	ikm, err := hkdf.Key(sha256.New, secret, auth, info, 32)
	clear(secret)
	if err != nil {
		return nil, undecryptable("key derivation failed")
	}
	defer clear(ikm)
	// RFC 8188 §2.2–2.3: CEK and NONCE from the header's salt; the nonce of
	// the first (only) record is NONCE itself.
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, undecryptable("key derivation failed")
	}
	defer clear(cek)
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, undecryptable("key derivation failed")
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, undecryptable("cipher")
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, undecryptable("cipher")
	}
	plain, err := gcm.Open(nil, nonce, record, nil)
	if err != nil {
		return nil, undecryptable("authentication failed")
	}
	// RFC 8188 §2: data || delimiter || zero padding; the last (only)
	// record's delimiter is 0x02.
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 2 {
		clear(plain)
		return nil, undecryptable("no last-record delimiter")
	}
	return plain[:i], nil
}
