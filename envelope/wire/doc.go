// Package wire is the envelope wire format: the Envelope a device receives
// and the frames both sides exchange over a device's WebSocket.
//
// Every frame is one WebSocket text message holding one JSON object with a
// "type" field; docs/protocol.md describes them and a test keeps the two in
// step. Unknown frame types are errors, unknown fields are ignored. The
// package has no behaviour beyond encoding and decoding, so clients and the
// server share it.
package wire
