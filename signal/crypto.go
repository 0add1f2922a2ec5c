package signal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
)

var errBadCiphertext = errors.New("bad ciphertext")

func hmacSHA256(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// hkdfSHA256 expands secret with salt (nil: zeros) and info to n bytes.
func hkdfSHA256(secret, salt []byte, info string, n int) []byte {
	out, err := hkdf.Key(sha256.New, secret, salt, info, n)
	if err != nil {
		// Only lengths over 255*32 fail, and none is asked for.
		panic("signal: hkdf: " + err.Error())
	}
	return out
}

// aesCBCEncrypt encrypts with AES-256-CBC and PKCS#7 padding.
func aesCBCEncrypt(key, iv, plaintext []byte) []byte {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("signal: AES key of the wrong length")
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	out := make([]byte, len(plaintext)+pad)
	copy(out, plaintext)
	for i := len(plaintext); i < len(out); i++ {
		out[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, out)
	return out
}

// aesCBCDecrypt reverses aesCBCEncrypt; a ciphertext that is empty, not
// whole blocks, or badly padded is errBadCiphertext.
func aesCBCDecrypt(key, iv, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, errBadCiphertext
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("signal: AES key of the wrong length")
	}
	out := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, ciphertext)
	pad := int(out[len(out)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, errBadCiphertext
	}
	good := 1
	for _, c := range out[len(out)-pad:] {
		good &= subtle.ConstantTimeByteEq(c, byte(pad))
	}
	if good != 1 {
		return nil, errBadCiphertext
	}
	return out[:len(out)-pad], nil
}
