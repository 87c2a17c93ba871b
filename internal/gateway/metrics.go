package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a request, the label of paycrawl_gateway_requests_total.
const (
	outcomeCharged         = "charged"
	outcomeFree            = "free"
	outcomeAllowed         = "allowed"
	outcomeNotCharged      = "origin_not_2xx"
	outcomePaymentRequired = "payment_required"
	outcomeRefused         = "refused"
	outcomeBlocked         = "blocked"
	outcomeOriginError     = "origin_error"
	outcomeLedgerError     = "ledger_error"
	outcomeUnconfirmed     = "charge_unconfirmed"
	outcomeClientGone      = "client_gone"
	outcomeUnknownSite     = "unknown_site"
)

// Metrics are the gateway's Prometheus collectors.
type Metrics struct {
	Requests *prometheus.CounterVec
	Charged  *prometheus.CounterVec
	Verify   prometheus.Histogram
	Ledger   *prometheus.HistogramVec
	Origin   prometheus.Histogram
	// Reloads counts configuration reloads by result (ok, refused).
	Reloads *prometheus.CounterVec
	// ReloadOK is 1 when the last reload succeeded, 0 when it was refused.
	ReloadOK prometheus.Gauge
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paycrawl_gateway_requests_total",
			Help: "Requests by site, outcome and refusal code.",
		}, []string{"site", "outcome", "code"}),
		Charged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paycrawl_gateway_charged_micros_total",
			Help: "Amounts committed, in micro-units, by site and currency.",
		}, []string{"site", "currency"}),
		Verify: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "paycrawl_gateway_verify_seconds",
			Help:    "Time to verify a request signature, key resolution included.",
			Buckets: buckets,
		}),
		Ledger: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "paycrawl_gateway_ledger_seconds",
			Help:    "Time of ledger calls on the request path.",
			Buckets: buckets,
		}, []string{"op"}),
		Origin: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "paycrawl_gateway_origin_seconds",
			Help:    "Time until the origin's response headers.",
			Buckets: buckets,
		}),
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
	reg.MustRegister(m.Requests, m.Charged, m.Verify, m.Ledger, m.Origin, m.Reloads, m.ReloadOK)
	return m
}
