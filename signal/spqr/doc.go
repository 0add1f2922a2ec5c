// Package spqr is the Sparse Post-Quantum Ratchet (SPQR) of the Signal
// protocol, byte-compatible with Signal's reference implementation
// (SparsePostQuantumRatchet v1.5.3, which the official libsignal uses and,
// since 0.100, requires in every session). The Double Ratchet in package
// signal runs it beside the elliptic-curve ratchet and mixes the key it
// returns for each message into that message's keys, so that a session
// heals from a compromise even against a quantum adversary.
//
// # Contract
//
// The package owns the ratchet's state machine and its two wire formats,
// nothing else. It is a set of pure functions over serialized bytes:
// InitialState makes a side's state from the PQXDH authentication key;
// Send and Recv take a state and return the next one. A state is the
// protobuf PqRatchetState of the reference's pq_ratchet.proto and a message
// is what goes into SignalMessage.pq_ratchet, both exactly as the
// reference writes them: a state saved by the official library can be
// loaded here and the next state is the one the official library would
// write, byte for byte (see the known-answer tests). An empty state is
// version 0: no post-quantum ratchet.
//
// The caller stores the returned state only once the message it belongs
// to has been fully processed (for a received message: authenticated and
// decrypted); a failed call leaves the old state valid. Bad input — a
// truncated or tampered message, a replay, an index out of range, a
// corrupted state — returns one of the errors in errors.go and never
// panics. Keys, and randomness drawn from the io.Reader given to Send,
// never appear in errors.
//
// # Design
//
// The protocol is the ML-KEM Braid (https://signal.org/docs/specifications/
// mlkembraid/; the reference's src/v1). Time is cut into epochs; each epoch
// is one ML-KEM-768 key exchange. One side makes a key pair and sends its
// 64-byte header (the matrix seed and the key hash, MACed), then its
// 1152-byte encapsulation key vector; the other side encapsulates as soon
// as it has the header, thanks to the incremental form of ML-KEM (kem.go):
// the 960-byte first half of the ciphertext depends only on the header, so
// it travels while the key vector is still arriving, and the 128-byte
// second half (with a MAC over the whole ciphertext) follows once the key
// vector is in. The two sides then swap roles for the next epoch; this
// alternation is the braid.
//
// Each of these pieces is far larger than what a message can carry, so it
// is cut into 32-byte chunks, one per message (message.go), with an
// erasure code over GF(2^16) (gf16.go, erasure.go): the piece is read as
// the values of 16 polynomials at x = 0, 1, ...; chunk n carries their
// values at x = n, so any set of distinct chunks as large as the piece
// rebuilds it, whichever messages were lost or reordered.
//
// The shared secret of each epoch goes through HKDF into two places: the
// authenticator (authenticator.go), whose MAC key every epoch renews and
// which authenticates the next epoch's header and ciphertext; and the key
// chain (chain.go), a root KDF that starts one symmetric chain per
// direction and epoch. Each message takes the next key of the chain of
// the latest epoch both sides know; a receiver may skip ahead (at most
// ChainParams.MaxJump keys) and keeps skipped keys (at least MaxOOOKeys
// back) for late messages. Before both sides agree on a first epoch, the
// chain of epoch 0 comes from the PQXDH key alone.
//
// Primitives all come from libraries: HKDF, HMAC, SHA-256 and SHA-3 from
// the standard library, ML-KEM-768 from crypto/mlkem and
// github.com/cloudflare/circl (see kem.go for why both).
//
// One known gap: the reference stores libcrux's internal encapsulation
// state, which holds m but not the K-PKE randomness. This package rederives
// the randomness from m and the header, so it continues every official
// state except one phase: an official state in ekReceivedCt1Sampled (the
// key vector received before the peer acknowledged ct1) no longer holds the
// header, and Recv returns ErrForeignState there. States made by this
// package never hit it. Loading states of the official library happens only
// in tests.
package spqr
