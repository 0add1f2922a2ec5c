// Package signal implements the Signal protocol as the official libsignal
// speaks it today, byte-compatible with it.
package signal
