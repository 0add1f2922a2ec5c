// Package smstest runs in-process servers that speak the protocols hushd
// sends registration codes through, for tests: an operator's webhook (it
// checks the Hush-Signature HMAC and its time, as docs/operations.md tells
// an operator to) and Twilio's Messages API (account path, HTTP Basic
// auth, form fields). Each records the codes it accepted by number and has
// a knob that answers the next requests with a chosen status, for retries.
//
// Test-only: nothing in the server binary imports it, and it imports
// nothing of hush (it checks the signature on its own), so tests inside
// package devices can use it.
package smstest
