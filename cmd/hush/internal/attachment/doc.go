// Package attachment is the encrypted form of a Hush attachment, Signal's
// attachment scheme: what a sender uploads and what a receiver checks and
// decrypts. The server only ever sees the blob.
//
// A fresh 64-byte Key per attachment holds an AES-256 key and an
// HMAC-SHA256 key (32 bytes each). The plaintext is padded with zeros to a
// size bucket (PaddedSize: at least 541 bytes, then steps of 5 %), so that
// the blob's size tells only a coarse size, then encrypted with AES-256-CBC
// and PKCS#7 under a random IV:
//
//	blob   = IV (16) || AES-256-CBC(plaintext || zeros) || HMAC-SHA256(IV || ciphertext) (32)
//	digest = SHA-256(blob)
//
// The pointer a message carries (id, key, digest, plaintext size) lets the
// receiver know the blob's exact size in advance (EncryptedSize), check
// the MAC and digest before it decrypts a byte, and strip the padding.
//
// The package streams: Encrypt reads the plaintext once and writes the
// blob; Open checks a stored blob in one pass and returns a reader of the
// plaintext, which decrypts in a second pass. It does no other I/O. A Key
// prints and logs as redacted and never appears in an error.
package attachment
