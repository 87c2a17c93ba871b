package paywall

import "github.com/prometheus/client_golang/prometheus"

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

// Metrics are the metering collectors. Their names keep the gateway's
// prefix (paycrawl_gateway_), so that a middleware and a gateway feed the
// same dashboards.
type Metrics struct {
	// Requests counts requests by site, outcome and refusal code.
	Requests *prometheus.CounterVec
	// Charged sums committed amounts in micro-units by site and currency.
	Charged *prometheus.CounterVec
	// Verify times signature verification, key resolution included.
	Verify prometheus.Histogram
	// Ledger times ledger calls by op (append).
	Ledger *prometheus.HistogramVec
	// Origin times the wrapped handler until its response headers.
	Origin prometheus.Histogram
}

// NewMetrics creates the collectors and registers them with reg; a nil reg
// leaves them unregistered.
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
	}
	if reg != nil {
		reg.MustRegister(m.Requests, m.Charged, m.Verify, m.Ledger, m.Origin)
	}
	return m
}
