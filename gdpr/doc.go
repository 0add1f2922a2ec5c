// Package gdpr answers data-subject requests for compliance officers:
// admin tokens with roles, the record of requests and their due dates,
// and the append-only, hash-chained audit log of every admin action, all
// served on the admin listener (never the public one).
//
// Admin tokens are random, shown once, and stored as SHA-256 hashes; a
// token names its role: compliance (requests, exports, erasure, audit) or
// operator (metrics, health, account status). The audit log names its
// subjects by a random pseudonym per account, kept apart from the log, so
// erasing an account's pseudonym unlinks its entries from it while the
// chain still verifies.
package gdpr
