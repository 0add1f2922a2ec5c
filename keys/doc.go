// Package keys publishes the public keys clients need to start Signal
// sessions: each account's identity key, and per device a signed EC
// prekey, a signed PQ last-resort prekey (Kyber1024, the official
// library's KEM key type 0x08), and batches of one-time EC and signed
// one-time PQ prekeys.
//
// It promises that every signed key it stores verifies against the
// account's identity key (XEdDSA over curve25519, checked with package
// signal), that every PQ key parses as a Kyber1024 key, that an upload
// with one bad key stores nothing, and that a one-time prekey is handed
// to exactly one requester: claims are atomic in the store. It tells a
// device over the bus when its one-time prekeys run low. Keys are opaque
// public blobs to it; it never holds a private key.
package keys
