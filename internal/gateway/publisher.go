package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/csv"
	"encoding/hex"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// UsageReader reads crawler-day aggregates from the ledger.
type UsageReader interface {
	Accounts(ctx context.Context, day string) ([]string, error)
	Aggregate(ctx context.Context, account, day string) (*ledger.Aggregate, error)
}

// UsageRow is one crawler's usage of one site on one day.
type UsageRow struct {
	Day          string `json:"day"`
	Crawler      string `json:"crawler"`
	Site         string `json:"site"`
	Currency     string `json:"currency"`
	Requests     int64  `json:"requests"`
	Amount       string `json:"amount"`
	AmountMicros int64  `json:"amount_micros"`
}

// maxUsageDays bounds one usage query.
const maxUsageDays = 31

// AdminHandler serves the admin port: /metrics, /healthz, /readyz,
// /debug/pprof/ and the
// publisher view GET /v1/usage?from=YYYY-MM-DD&to=YYYY-MM-DD[&format=csv]
// (a single day with day=…; today by default), authenticated with a
// publisher's bearer token and limited to that publisher's sites.
func AdminHandler(cfg *Config, usage UsageReader, gatherer prometheus.Gatherer, now func() time.Time, checks ...httpx.Check) http.Handler {
	mux := http.NewServeMux()
	httpx.Health(mux, checks...)
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	// Profiles for operators, on the admin port only (loopback by default).
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	tokens := make(map[string][]byte, len(cfg.Publishers))
	for _, p := range cfg.Publishers {
		b, _ := hex.DecodeString(p.TokenSHA256)
		tokens[p.ID] = b
	}
	mux.HandleFunc("GET /v1/usage", func(w http.ResponseWriter, r *http.Request) {
		publisher, ok := authenticate(r, tokens)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="paycrawl-gateway"`)
			httpx.WriteError(w, r, httpx.Errorf(http.StatusUnauthorized, "unauthorized", "a publisher bearer token is required"))
			return
		}
		days, err := usageDays(r, now())
		if err != nil {
			httpx.WriteError(w, r, err)
			return
		}
		var rows []UsageRow
		for _, d := range days {
			accounts, err := usage.Accounts(r.Context(), d)
			if err != nil {
				httpx.WriteError(w, r, httpx.Errorf(http.StatusServiceUnavailable, "ledger_unavailable", "reading the ledger: %v", err))
				return
			}
			for _, a := range accounts {
				agg, err := usage.Aggregate(r.Context(), a, d)
				if err != nil {
					httpx.WriteError(w, r, httpx.Errorf(http.StatusServiceUnavailable, "ledger_unavailable", "reading the ledger: %v", err))
					return
				}
				for _, s := range agg.Sites {
					if s.Publisher != publisher || s.Count == 0 {
						continue
					}
					rows = append(rows, UsageRow{Day: d, Crawler: a, Site: s.Site, Currency: s.Currency,
						Requests: s.Count, Amount: s.Amount.String(), AmountMicros: int64(s.Amount)})
				}
			}
		}
		if r.URL.Query().Get("format") == "csv" || strings.Contains(r.Header.Get("Accept"), "text/csv") {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="usage-`+publisher+`.csv"`)
			cw := csv.NewWriter(w)
			_ = cw.Write([]string{"day", "crawler", "site", "currency", "requests", "amount"})
			for _, row := range rows {
				_ = cw.Write([]string{row.Day, row.Crawler, row.Site, row.Currency, strconv.FormatInt(row.Requests, 10), row.Amount})
			}
			cw.Flush()
			return
		}
		if rows == nil {
			rows = []UsageRow{}
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"publisher": publisher, "usage": rows})
	})
	return mux
}

// authenticate returns the publisher whose token the request carries.
func authenticate(r *http.Request, tokens map[string][]byte) (string, bool) {
	tok, ok := httpx.BearerToken(r)
	if !ok {
		return "", false
	}
	sum := sha256.Sum256([]byte(tok))
	found := ""
	for id, want := range tokens {
		if subtle.ConstantTimeCompare(sum[:], want) == 1 {
			found = id
		}
	}
	return found, found != ""
}

func usageDays(r *http.Request, now time.Time) ([]string, error) {
	q := r.URL.Query()
	from, to := q.Get("from"), q.Get("to")
	if d := q.Get("day"); d != "" {
		from, to = d, d
	}
	today := now.UTC().Format(time.DateOnly)
	if from == "" {
		from = today
	}
	if to == "" {
		to = from
	}
	f, err1 := time.Parse(time.DateOnly, from)
	t, err2 := time.Parse(time.DateOnly, to)
	if err1 != nil || err2 != nil {
		return nil, httpx.Errorf(http.StatusBadRequest, "invalid_day", "days are YYYY-MM-DD")
	}
	if t.Before(f) || t.Sub(f) > (maxUsageDays-1)*24*time.Hour {
		return nil, httpx.Errorf(http.StatusBadRequest, "invalid_range", "from must not be after to, and a query spans at most %d days", maxUsageDays)
	}
	var days []string
	for d := f; !d.After(t); d = d.AddDate(0, 0, 1) {
		days = append(days, d.Format(time.DateOnly))
	}
	return days, nil
}
