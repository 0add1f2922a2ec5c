// Package push wakes offline devices through APNs, FCM, Web Push /
// UnifiedPush and WNS, with content-free notifications.
//
// A device registers where it can be woken (one registration per device;
// a new one replaces the old). When an urgent envelope is stored for a
// device that has no live connection on any node, the device gets one
// wake-up; further envelopes send none until the device has connected
// again or WakeInterval has passed. The claim is a conditional update in
// the store, so many nodes and envelopes still make one wake-up.
//
// A wake-up carries nothing but "connect": no content, no sender, no
// account. Wake-ups go through a bounded queue and workers apart from
// sends: a slow or failing provider never delays or loses a message, and
// when the queue is full a wake-up is dropped (and counted), not waited
// for. Throttling and 5xx answers are retried with bounded backoff; a
// provider's "this token is gone" removes the registration.
package push
