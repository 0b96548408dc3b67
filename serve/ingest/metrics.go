package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metrics are ingest's Prometheus metrics, by input (http, beats, nats,
// stdin).
type Metrics struct {
	// Received counts events read from senders; each is then accepted
	// (stored), rejected (unreadable, reported to the sender when the
	// protocol allows) or refused (storing failed: the sender retries).
	Received *prometheus.CounterVec
	Accepted *prometheus.CounterVec
	Rejected *prometheus.CounterVec
	Refused  *prometheus.CounterVec
	// Store is the time to store one request or batch (all JetStream
	// acknowledgements).
	Store *prometheus.HistogramVec
	// Requests counts HTTP ingest requests by status code.
	Requests *prometheus.CounterVec
}

// NewMetrics registers ingest's metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_events_received_total", Help: "Events read from senders, by input."}, []string{"input"}),
		Accepted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_events_accepted_total", Help: "Events stored in the events stream, by input."}, []string{"input"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_events_rejected_total", Help: "Events not stored because they could not be read (not a JSON object, too large), by input."}, []string{"input"}),
		Refused:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_events_refused_total", Help: "Events not stored because storing failed; the sender was told to retry, by input."}, []string{"input"}),
		Store: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_ingest_store_seconds", Help: "Time to store a request or batch in JetStream, by input.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"input"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_ingest_http_requests_total", Help: "HTTP ingest requests, by status code."}, []string{"code"}),
	}
	for _, in := range []string{"http", "beats", "nats", "stdin"} {
		m.Received.WithLabelValues(in)
		m.Accepted.WithLabelValues(in)
		m.Rejected.WithLabelValues(in)
		m.Refused.WithLabelValues(in)
	}
	if reg != nil {
		reg.MustRegister(m.Received, m.Accepted, m.Rejected, m.Refused, m.Store, m.Requests)
	}
	return m
}
