// Package content encodes and decodes the plaintext inside every Hush
// ciphertext: the Content message of docs/content.proto, laid out as
// Signal's SignalService.proto where a field means the same thing, and
// padded as Signal pads it (0x80, then zeros to a multiple of 160 bytes).
//
// Marshal never fails on a valid message; Unmarshal checks the padding,
// the wire format and the bounds of docs/protocol.md ("Content format")
// and returns an error wrapping ErrInvalid for anything else, never
// panicking. Unknown fields are skipped, so a newer client's additions do
// not break an older one. The package knows nothing of sessions or keys.
package content
