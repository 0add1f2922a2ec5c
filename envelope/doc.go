// Package envelope relays opaque ciphertexts between devices: the send
// (1:1 and the sender's own other devices, checked against the exact device
// set), the per-device mailboxes, delivery over each device's WebSocket,
// acknowledgement and expiry. Its wire format is in envelope/wire.
//
// It promises: a send is answered with success only after every copy is
// committed to the store (ephemeral sends excepted, which are never
// stored); a mailbox is delivered in order and resumed by position, never
// rescanned; an envelope is deleted only by its device's ack or by expiry;
// delivery is at-least-once and envelope ids let clients drop duplicates;
// one connection per device, the newest wins; a mailbox holds at most its
// quota (Quota): a send to a full one is refused (429 mailbox_full) and
// nothing it holds is dropped. It never looks inside Content and never
// logs it.
package envelope
