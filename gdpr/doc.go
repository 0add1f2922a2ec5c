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
//
// It promises that an export shows every table that names the account
// (ExportTables), and that an erasure leaves nothing: the account is
// blocked before anything is deleted (no credential works, nothing it
// sends is stored), its rows go in one transaction, requests about it
// keep only its pseudonym (the number in any spelling redacted from their
// notes), and the store's own files are purged of what was deleted as far
// as the backend allows (docs/privacy.md). Request subjects are kept in
// one spelling: E.164 numbers, lower-case account ids.
package gdpr
