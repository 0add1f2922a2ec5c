// Package provision is the client-to-client part of linking a device, as
// docs/protocol.md describes it: the link code a new device shows, and the
// provisioning message a primary encrypts to it.
//
// The new device makes an Ephemeral key pair and shows a LinkCode (its
// provisioning address and that public key). The primary Seals a Message
// (account, number, identity key pair, one-use provisioning code) to the
// key: X25519 with a fresh key of its own, HKDF-SHA256 with info
// "hush provisioning v1" and no salt, AES-256-GCM without additional data,
// sent as version (1) || sender public key (33) || nonce (12) || ciphertext.
// The server relays the result without being able to read it.
//
// The package does no I/O. Secret-holding types log as redacted.
package provision
