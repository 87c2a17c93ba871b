package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the service's Prometheus metrics.
type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	signups       prometheus.Counter
	registrations *prometheus.CounterVec
	revocations   prometheus.Counter
	statusChanges *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keydirectory_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keydirectory_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		signups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keydirectory_signups_total", Help: "Operators signed up.",
		}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keydirectory_key_registrations_total", Help: "Keys registered, by kind (register, rotate).",
		}, []string{"kind"}),
		revocations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keydirectory_key_revocations_total", Help: "Key revocations.",
		}),
		statusChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keydirectory_operator_status_changes_total", Help: "Operator suspensions and reinstatements, by new status.",
		}, []string{"status"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.signups, m.registrations, m.revocations, m.statusChanges} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

type codeWriter struct {
	http.ResponseWriter
	code int
}

// WriteHeader records the first status written.
func (c *codeWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
	c.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200.
func (c *codeWriter) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return c.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *codeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// middleware counts requests by the mux's route pattern (never the raw
// path, whose cardinality a client controls).
func (m *metrics) middleware(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		cw := &codeWriter{ResponseWriter: w}
		defer func() {
			route := r.Pattern // set by the mux on r
			if route == "" || route == "/" {
				route = "unmatched"
			}
			code := cw.code
			if code == 0 {
				code = http.StatusOK
			}
			method := r.Method
			switch method {
			case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions:
			default:
				method = "other"
			}
			m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
			m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()
		mux.ServeHTTP(cw, r)
	})
}
