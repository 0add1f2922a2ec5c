// Package metrics holds the Prometheus collectors of a node, registered on
// the node's own registry (no globals), and the admin handlers that serve
// them and pprof. Metrics carry counts and durations only: never an
// account id, a number, a credential or content.
package metrics

import (
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is every collector of a node.
type Metrics struct {
	reg *prometheus.Registry

	Connections    prometheus.Gauge
	Sent           prometheus.Counter // envelopes accepted by sends (one per device)
	Inserted       prometheus.Counter // envelopes written to the store
	AckedLive      prometheus.Counter // acked while held in memory, never stored
	HoldExpired    prometheus.Counter // delivered live, not acked within the hold, stored
	DirectOverflow prometheus.Counter // sessions whose direct queue filled up
	Ephemeral      prometheus.Counter // ephemeral envelopes handed to the bus
	GroupSends     prometheus.Counter // group sends accepted (each one payload)
	GroupChanges   *prometheus.CounterVec
	Delivered      prometheus.Counter // envelope frames written to sockets
	Acked          prometheus.Counter
	Expired        prometheus.Counter
	Stored         prometheus.Gauge     // envelopes in all mailboxes, as of the last sweep
	DeliverLatency prometheus.Histogram // server timestamp to the frame written
	StoreLatency   *prometheus.HistogramVec
	BatchSize      *prometheus.HistogramVec
	RateLimited    *prometheus.CounterVec
	// Attachments counts attachment events: created, completed,
	// size_mismatch, expired, deleted.
	Attachments     *prometheus.CounterVec
	AttachmentBytes prometheus.Counter // ciphertext bytes of completed uploads
	// Push counts wake-ups by provider and outcome: sent, retried, gone,
	// failed, disabled, dropped (queue full; provider "").
	Push *prometheus.CounterVec
	// Retained counts what retention deleted: accounts, devices,
	// audit_entries.
	Retained *prometheus.CounterVec
	// SMS counts registration codes handed to the SMS gateway by sender
	// (webhook, twilio) and outcome: sent, retried, rejected, failed.
	SMS *prometheus.CounterVec
}

// New makes the collectors on a fresh registry, with Go runtime and process
// collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{reg: reg}
	ms := prometheus.ExponentialBuckets(0.0005, 2, 14) // 0.5 ms .. 4 s
	m.Connections = prometheus.NewGauge(prometheus.GaugeOpts{Name: "hush_connections", Help: "Device WebSockets open on this node."})
	m.Sent = prometheus.NewCounter(prometheus.CounterOpts{Name: "hush_envelopes_sent_total", Help: "Envelopes accepted by sends, one per device."})
	m.Inserted = prometheus.NewCounter(prometheus.CounterOpts{Name: "hush_envelopes_stored_total", Help: "Envelopes written to the store."})
	m.AckedLive = prometheus.NewCounter(prometheus.CounterOpts{Name: "hush_envelopes_acked_unstored_total", Help: "Envelopes delivered straight to a connected device and acked before they were stored (never written)."})
	m.DirectOverflow = prometheus.NewCounter(prometheus.CounterOpts{Name: "hush_direct_queue_overflows_total", Help: "Times a session fell so far behind that its envelopes went through the store instead."})
	m.HoldExpired = prometheus.NewCounter(prometheus.CounterOpts{Name: "hush_envelopes_hold_expired_total", Help: "Envelopes delivered straight to a connected device whose ack did not come within the hold, so they were stored."})
	m.Ephemeral = prometheus.NewCounter(prometheus.CounterOpts{Name: "hush_envelopes_ephemeral_total", Help: "Ephemeral envelopes handed to online devices."})
	m.GroupSends = prometheus.NewCounter(prometheus.CounterOpts{Name: "hush_group_sends_total", Help: "Group sends accepted; each stores one payload for all its devices."})
	m.GroupChanges = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hush_group_changes_total", Help: "Group membership changes by action."}, []string{"action"})
	m.Delivered = prometheus.NewCounter(prometheus.CounterOpts{Name: "hush_envelopes_delivered_total", Help: "Envelopes written to device sockets."})
	m.Acked = prometheus.NewCounter(prometheus.CounterOpts{Name: "hush_envelopes_acked_total", Help: "Envelopes acknowledged by their device (deleted, or never stored)."})
	m.Expired = prometheus.NewCounter(prometheus.CounterOpts{Name: "hush_envelopes_expired_total", Help: "Envelopes deleted unacknowledged by expiry."})
	m.Stored = prometheus.NewGauge(prometheus.GaugeOpts{Name: "hush_mailbox_envelopes", Help: "Envelopes waiting in all mailboxes, counted at each sweep."})
	m.DeliverLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hush_deliver_latency_seconds", Help: "From a send's acceptance to the envelope written to the device's socket (millisecond resolution for stored envelopes).", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 17)})
	m.StoreLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hush_store_seconds", Help: "Store calls by operation.", Buckets: ms}, []string{"op"})
	m.BatchSize = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hush_batch_size", Help: "Items per group commit.", Buckets: prometheus.ExponentialBuckets(1, 2, 11)}, []string{"op"})
	m.RateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hush_rate_limited_total", Help: "Requests refused by a rate limit."}, []string{"limit"})
	m.Attachments = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hush_attachments_total", Help: "Attachment events: created, completed, size_mismatch, expired, deleted."}, []string{"event"})
	m.AttachmentBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "hush_attachment_bytes_total", Help: "Ciphertext bytes of completed attachment uploads."})
	m.Push = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hush_push_total", Help: "Wake-up pushes by provider and outcome (sent, retried, gone, failed, disabled, dropped, deferred, circuit_open)."}, []string{"provider", "outcome"})
	m.Retained = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hush_retention_deleted_total", Help: "What the retention sweeper deleted: accounts (erased), devices (inactive linked devices), audit_entries."}, []string{"kind"})
	m.SMS = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hush_sms_total", Help: "Registration codes handed to the SMS gateway, by sender and outcome (sent, retried, rejected, failed)."}, []string{"sender", "outcome"})
	for _, c := range []prometheus.Collector{m.SMS, m.Retained, m.Push, m.Attachments, m.AttachmentBytes, m.Connections, m.Sent, m.Inserted, m.AckedLive, m.HoldExpired, m.DirectOverflow, m.Ephemeral, m.GroupSends, m.GroupChanges, m.Delivered, m.Acked, m.Expired, m.Stored,
		m.DeliverLatency, m.StoreLatency, m.BatchSize, m.RateLimited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

// Since observes the time since start for op.
func (m *Metrics) Since(op string, start time.Time) {
	m.StoreLatency.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

// Denied returns a function that counts refusals by the named limit.
func (m *Metrics) Denied(limit string) func() {
	c := m.RateLimited.WithLabelValues(limit)
	return c.Inc
}

// Handler serves /metrics for the admin listener.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Pprof serves /debug/pprof/. It shows the command line, whose flags may
// hold secrets, and costs CPU on demand: the admin listener serves it
// only when asked to, or to an admin token.
func Pprof() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
