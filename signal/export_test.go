package signal

import "github.com/hushmsg/hush/signal/spqr"

// SetPQVersion sets the SPQR version of the sessions c sets up from now
// on (tests only; libsignal always uses V1).
func SetPQVersion(c *Cipher, v spqr.Version) { c.pqVersion = v }
