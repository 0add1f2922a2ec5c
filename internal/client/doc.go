// Package client is a transport client of the Hush server: every REST route
// of docs/api.md as a typed method, the device's message socket and the
// provisioning socket of docs/protocol.md.
//
// It owns transport only. It never encrypts, decrypts or looks inside an
// envelope, holds no keys beyond the device password it authenticates with,
// and keeps no state between calls except that password. The reference CLI
// (cmd/hush), the integration tests and the load generator share it, so it
// reads no flags or environment and logs nothing.
//
// Promises:
//   - Every method takes a context first and returns when it ends.
//   - A non-2xx answer is returned as *APIError carrying the status and the
//     server's api.Error body; its message never holds the password.
//   - Device routes use HTTP Basic auth with user "<account_id>.<device_id>";
//     a Client without credentials can call the open routes only.
//   - Socket URLs are derived from the base URL (http → ws, https → wss).
//   - A MessageSocket reads frames on its own goroutine, so pings are
//     answered and send results are matched to their Send call by
//     request_id even while nobody calls Next.
package client
