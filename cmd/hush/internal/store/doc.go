// Package store is the hush client's local state: one SQLite file (pure-Go
// modernc.org/sqlite) under the client's home directory.
//
// It holds the device's account, credentials and identity key pair, its
// prekeys (EC one-time, signed, and ML-KEM ones with their private parts),
// the libsignal sessions and sender keys, the remote identity keys it trusts
// (trust on first use, per account), contacts (number ↔ account id), the
// message history (with read marks), the status of sent messages per
// recipient (sent, delivered, read: never moving back), the groups it
// knows (version, members) and which devices were sent which of this
// device's sender keys, and this device's push registration (for Web Push
// and UnifiedPush, the subscription's private key and auth secret that
// open the wake-ups). It implements go.mau.fi/libsignal's store interfaces
// with the protobuf/JSON serializer of serialize.NewProtoBufSerializer.
//
// Promises: every write is durable when the call returns (WAL,
// synchronous=FULL); InTx makes a group of calls, libsignal's included,
// atomic when they are given the context InTx passes on. The file is
// created with mode 0600. One process uses a store at a time; the caller
// locks the home directory. Secrets (password, private keys, push
// endpoints and auth secrets) log as redacted and never appear in errors.
package store
