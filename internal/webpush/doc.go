// Package webpush opens Web Push messages as a user agent does: RFC 8291
// (Message Encryption for Web Push) over the aes128gcm content coding of
// RFC 8188, the encryption hushd's Web Push and UnifiedPush wake-ups use.
//
// It owns the receiving half only: Decrypt takes the subscription's P-256
// private key and 16-octet authentication secret and returns the
// plaintext. Sending (encryption, VAPID) is github.com/SherClockHolmes/
// webpush-go's, used by the push package; no maintained Go library offers
// the receiving half without deprecated elliptic-curve APIs, so this one
// is written on crypto/ecdh, crypto/hkdf and AES-GCM, citing the RFCs.
//
// Promises: a message that is malformed, tampered with, or encrypted for
// other keys is an error wrapping ErrUndecryptable, never a panic;
// errors never contain key material or plaintext. Nothing is logged.
package webpush
