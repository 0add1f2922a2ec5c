// Package signal implements the Signal protocol as the official libsignal
// (0.103) speaks it today, byte-compatible with it: a Go client on this
// package and an official client talk to each other, and each can load
// the other's stored records.
//
// It owns:
//   - keys: Curve25519 public keys serialized with the type byte 0x05,
//     private keys, identity keys; XEdDSA signatures (64 bytes,
//     randomized); Kyber1024 KEM keys and ciphertexts with the type byte
//     0x08 (Kyber as submitted to NIST's third round, which is what
//     libsignal's key type 0x08 is, not FIPS 203 ML-KEM);
//   - prekeys: one-time, signed and Kyber prekey records (libsignal's
//     storage layout) and prekey bundles;
//   - PQXDH, as initiator (ProcessPreKeyBundle) and recipient
//     (DecryptPreKey);
//   - the Double Ratchet with the sparse post-quantum ratchet mixed into
//     every message key (package spqr, version 1, required of every
//     session as libsignal requires it); SignalMessage (version byte 0x44)
//     and PreKeySignalMessage;
//   - session records: the current session and up to ArchivedStatesMax
//     previous ones, tried in turn when a message does not decrypt with
//     the current one (a previous one that decrypts becomes current);
//   - sender keys for groups: SenderKeyDistributionMessage,
//     SenderKeyMessage, SenderKeyRecord;
//   - safety numbers (Fingerprint);
//   - DecryptionErrorMessage and PlaintextContent (TypePlaintext), with
//     which a recipient that could not decrypt a message asks its sender
//     to start a new session and send again.
//
// It promises:
//   - message layouts, key derivations and limits are libsignal's
//     (MaxForwardJumps, MaxMessageKeys, MaxReceiverChains,
//     ArchivedStatesMax, MaxSenderKeyStates); ciphertext types have
//     libsignal's numbers (TypeWhisper 2, TypePreKey 3, TypeSenderKey 7,
//     TypePlaintext 8);
//   - MACs and signatures are checked over the bytes as received, never
//     over a re-encoding;
//   - a message that fails leaves every record as it was; the records
//     change only after a message decrypted (and one-time prekeys are
//     removed, Kyber prekeys marked used, only then);
//   - bad input (truncated, oversized, wrong version, wrong MAC, replayed,
//     out of the window) is a typed error from errors.go, never a panic;
//   - private keys, chain, root and message keys, KEM secret keys and the
//     records holding them print and log as redacted (fmt, slog).
//
// It never:
//   - stores anything itself: the caller provides the stores
//     (IdentityStore, PreKeyStore, SignedPreKeyStore, KyberPreKeyStore,
//     SessionStore, SenderKeyStore; package signaltest has in-memory ones);
//   - talks to a network or decides whom to trust: IdentityStore answers
//     whether an identity is trusted, and an untrusted one is an
//     UntrustedIdentityError.
//
// A Cipher serves one local device (its ProtocolAddress: a service id and
// a device id in 1..127). Its methods run one at a time. The version-3
// (X3DH) sessions and messages of older clients are refused.
package signal
