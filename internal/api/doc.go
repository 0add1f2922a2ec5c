// Package api holds the JSON bodies of Hush's REST control plane and its
// stable error codes, shared by the server and the reference client.
//
// It is the wire contract of docs/api.md: a field renamed here is a
// breaking change for every client. It holds no behaviour beyond
// encoding helpers; validation lives with the domain packages.
package api
