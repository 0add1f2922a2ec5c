package clientaddr

import "errors"

// ErrNoTrusted is returned when the PROXY protocol is asked for without
// any trusted proxy to read it from.
var ErrNoTrusted = errors.New("--proxy-protocol needs --trusted-proxies")
