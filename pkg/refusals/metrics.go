package refusals

import "github.com/prometheus/client_golang/prometheus"

// Causes of a dropped count, the label of
// paycrawl_gateway_refusal_counts_dropped_total.
const (
	dropBufferFull = "buffer_full"
	dropRedis      = "redis"
)

// Metrics are a Recorder's collectors. Their names keep the gateway's
// prefix, where a Recorder runs.
type Metrics struct {
	// Recorded counts refusals taken into the in-process table.
	Recorded prometheus.Counter
	// Dropped counts refusals not counted, by cause: buffer_full (the
	// table held MaxPending counters) or redis (a flush failed).
	Dropped *prometheus.CounterVec
	// Overflowed counts refusals of verified crawlers counted in the
	// Others bucket (a publisher-day held MaxFields fields).
	Overflowed prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg; a nil reg
// leaves them unregistered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Recorded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paycrawl_gateway_refusal_counts_recorded_total",
			Help: "Refusals taken into the in-process count table, before their flush to Redis.",
		}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paycrawl_gateway_refusal_counts_dropped_total",
			Help: "Refusals not counted, by cause: buffer_full (the table between flushes was full) or redis (a flush failed).",
		}, []string{"cause"}),
		Overflowed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "paycrawl_gateway_refusal_counts_overflowed_total",
			Help: "Refusals of verified crawlers counted under \"others\": the publisher-day held its maximum of fields.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Recorded, m.Dropped, m.Overflowed)
	}
	return m
}
