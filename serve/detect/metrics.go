package detect

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are a worker's Prometheus collectors (docs/serve-detection.md
// lists them).
type metrics struct {
	evaluated *prometheus.CounterVec
	problems  prometheus.Counter
	late      prometheus.Counter
	future    prometheus.Counter
	alerts    *prometheus.CounterVec
	open      *prometheus.GaugeVec
	lag       *prometheus.GaugeVec
	owned     prometheus.Gauge
	latency   prometheus.Histogram
	snapshots prometheus.Histogram
	takeovers prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		evaluated: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_events_evaluated_total",
			Help: "Events matched against the rules, by partition (events replayed after a crash or a takeover count again)."}, []string{"partition"}),
		problems: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_events_unparsable_total",
			Help: "Stored events that could not be decoded or matched (logged with their stream sequence and line)."}),
		late: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_events_late_total",
			Help: "Events older than their partition's watermark (newest event time minus --max-lateness): matched by single-event rules, late for correlation."}),
		future: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_events_future_total",
			Help: "Events dated more than Options.MaxClockSkew (a day by default) after they were stored (a broken clock): matched by single-event rules, not correlated."}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_alerts_total",
			Help: "Alerts published to the alerts stream, by rule id and level."}, []string{"rule", "level"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_correlation_open_groups",
			Help: "Correlation groups held open, by partition owned by this worker."}, []string{"partition"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_consumer_lag",
			Help: "Events of a partition stored but not yet delivered to its detection consumer, as of the last delivery."}, []string{"partition"}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_partitions_owned",
			Help: "Partitions this worker holds the state of (its pinned partitions)."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_alert_latency_seconds",
			Help:    "From the event's receipt by vigil (header Vigil-Received) to its alert's publication acknowledged by the alerts stream.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}}),
		snapshots: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_state_snapshot_seconds",
			Help:    "Time to save a partition's detection state (snapshot and acknowledgement).",
			Buckets: prometheus.ExponentialBuckets(.001, 4, 8)}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_partition_loads_total",
			Help: "Partition states loaded: at start, after a failover to this worker, or after an error."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.evaluated, m.problems, m.late, m.future, m.alerts, m.open, m.lag, m.owned, m.latency, m.snapshots, m.takeovers} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func label(p int) string { return strconv.Itoa(p) }
