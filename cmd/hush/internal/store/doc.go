// Package store is the hush client's local state: one SQLite file (pure-Go
// modernc.org/sqlite) under the client's home directory.
//
// It holds the device's account, credentials and identity key pair, its
// prekeys (one-time EC, signed, one-time and last-resort Kyber ones, with
// their private parts), the sessions and sender keys, the remote identity
// keys it trusts (trust on first use, per account), contacts (number ↔
// account id), the message history (with read marks), the status of sent
// messages per recipient (sent, delivered, read: never moving back), the
// groups it knows (version, members, this device's distribution id) and
// which devices were sent which of this device's sender keys, the
// plaintexts it sent in the last day (for a resend when a recipient could
// not decrypt one), and this device's push registration (for Web Push and
// UnifiedPush, the subscription's private key and auth secret that open
// the wake-ups). It implements package signal's store interfaces, keeping
// records in signal's serialized forms (the official library's layouts).
//
// Migration 4 moved the client from an X3DH library to package signal:
// records of the old library are dropped (the account, identities,
// contacts, groups and history stay), and the store owes a key reset
// (PendingKeyReset) that the client pays on its next start.
//
// Promises: every write is durable when the call returns (WAL,
// synchronous=FULL); InTx makes a group of calls, package signal's
// included, atomic when they are given the context InTx passes on. The
// file is created with mode 0600. One process uses a store at a time; the
// caller locks the home directory. Secrets (password, private keys, push
// endpoints and auth secrets) log as redacted and never appear in errors.
package store
