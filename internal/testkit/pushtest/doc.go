// Package pushtest runs in-process servers that speak the protocols of the
// push services hushd wakes devices through — APNs (HTTP/2, token
// authentication), FCM HTTP v1 (with its OAuth 2.0 token endpoint), Web
// Push (RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID) and WNS
// (client-credentials tokens, raw notifications) — for tests.
//
// Each fake checks what the real service checks for the requests hushd
// makes (signatures, tokens, headers; Web Push messages are decrypted with
// the subscription's own keys), records what it accepted, and has knobs:
// registrations marked gone, and a Mode for outages (503), throttling
// (429, or 406 for WNS) and hanging until the client gives up. Every fake
// is safe for concurrent use; Count and Attempts read counters, Wait blocks
// until a number of pushes arrived.
//
// Test-only: nothing in the server binary imports it, and it imports
// nothing of hush, so tests inside package push can use it.
package pushtest
