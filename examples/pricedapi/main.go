// Command pricedapi is a priced JSON API metered by pkg/paywall: every
// call to /v1/quotes/{symbol} costs USD 0.002, /v1/free/ is free, and a
// signed crawler's charges land in paycrawl's ledger, on the same daily
// invoices as the gateway's. Run it beside a key directory and its Redis:
//
//	go run ./examples/pricedapi -redis 127.0.0.1:6380 -keydir http://127.0.0.1:8403 -offer-key $(openssl rand -hex 32)
package main

import (
	"encoding/json"
	"net/http"

	"github.com/paycrawl/paycrawl/examples/internal/exampleenv"
	"github.com/paycrawl/paycrawl/pkg/paywall"
	"github.com/paycrawl/paycrawl/pkg/pricing"
)

func main() { exampleenv.Main("127.0.0.1:8080", newHandler) }

// newHandler is the API behind a paywall of one site, priced by route;
// o carries the ledger, accounts and offer secrets.
func newHandler(o paywall.Options) (http.Handler, error) {
	site, err := paywall.NewSite(pricing.SiteConfig{Host: "api.example", Publisher: "pub_api", Currency: "USD",
		DefaultPrice: "0.002", Rules: []pricing.RuleConfig{{Prefix: "/v1/free/", Free: true}}})
	if err != nil {
		return nil, err
	}
	o.Site = site
	pw, err := paywall.New(o)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/quotes/{symbol}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"symbol": r.PathValue("symbol"), "price_micros": 123_450_000})
	})
	mux.HandleFunc("GET /v1/free/status", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	return pw.Wrap(mux), nil
}
