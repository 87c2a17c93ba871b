package gateway

import (
	"github.com/paycrawl/paycrawl/pkg/paywall"
	"github.com/paycrawl/paycrawl/pkg/refusals"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's Prometheus collectors: the paywall's request
// path collectors, the refusal counter's and the gateway's own reload
// collectors.
type Metrics struct {
	*paywall.Metrics
	// Refusals are the refusal counter's (pkg/refusals).
	Refusals *refusals.Metrics
	// Reloads counts configuration reloads by result (ok, refused).
	Reloads *prometheus.CounterVec
	// ReloadOK is 1 when the last reload succeeded, 0 when it was refused.
	ReloadOK prometheus.Gauge
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Metrics:  paywall.NewMetrics(reg),
		Refusals: refusals.NewMetrics(reg),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paycrawl_gateway_config_reloads_total",
			Help: "Configuration reloads (SIGHUP) by result: ok or refused (the running configuration stays).",
		}, []string{"result"}),
		ReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "paycrawl_gateway_config_last_reload_successful",
			Help: "1 when the last configuration reload succeeded (or none was tried), 0 when it was refused.",
		}),
	}
	m.ReloadOK.Set(1)
	reg.MustRegister(m.Reloads, m.ReloadOK)
	return m
}
