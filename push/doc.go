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
// for. No worker ever sleeps: throttling and 5xx answers are retried with
// bounded backoff (honouring Retry-After up to MaxBackoff) from a delay
// queue, so push services that throttle or hang delay other devices'
// wake-ups by one attempt at most. Each push host (a Web Push or WNS
// host, or a provider) gets at most HostConcurrency sends at once and a
// circuit breaker: BreakerFailures failed attempts in a row stop sends
// there for BreakerCooldown, then one probe decides. A wake-up that
// fails keeps its claim: the device is not woken again before
// WakeInterval. A provider's "this token is gone" removes the
// registration.
package push
