// Package clientaddr finds the address of the client behind a request and
// turns it into the key that per-address limits count by.
//
// A request's direct peer is the client unless it is one of the trusted
// proxies (--trusted-proxies): only then is its X-Forwarded-For header
// read (the rightmost address that is not itself a trusted proxy is the
// client) or, on a listener with the PROXY protocol on, its PROXY v1/v2
// header (github.com/pires/go-proxyproto). Anyone else's headers are
// ignored, so a client cannot claim another address.
//
// Key is the address limits count by: an IPv4 address as it is, an IPv6
// address as its /64, the smallest block a subscriber usually gets (one
// host can use every address of its /64). Nothing here logs or stores an
// address.
package clientaddr
