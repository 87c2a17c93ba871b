package stack

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/paywall"
	"github.com/paycrawl/paycrawl/pkg/paywall/keys"
	"github.com/paycrawl/paycrawl/pkg/pricing"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// APIPublisher is the publisher of the stack's middleware-metered site.
const APIPublisher = "pub_demo_api"

// APISite is the priced JSON API of StartAPISite: 0.002 a call, /v1/free/
// free.
var APISite = pricing.SiteConfig{Host: "127.0.0.1", Publisher: APIPublisher, Currency: "USD", DefaultPrice: "0.002",
	Description: "Demo quotes API", Rules: []pricing.RuleConfig{{Prefix: "/v1/free/", Free: true}}}

// StartAPISite serves a priced JSON API in this process, a Go server of
// its own metered by the pkg/paywall middleware (no gateway in front) on
// the stack's ledger and registry, so that its charges land in the same
// crawler-days and invoices as the gateway's. The key directory must run.
func (s *Stack) StartAPISite(ctx context.Context) error {
	rdb := s.LedgerClient()
	store, err := registry.NewStore(rdb, registry.Options{AgentBase: s.Keydir, HostedAgentsBase: s.hostedAgentsBase(), AllowHTTPLoopbackAgents: true})
	if err != nil {
		return err
	}
	resolver, err := keys.NewResolver(store, keys.ResolverOptions{AllowHTTPLoopback: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.Background())
	go func() { _ = resolver.Listen(lctx) }()
	led, err := ledger.New(rdb, ledger.Options{})
	if err != nil {
		cancel()
		return err
	}
	site, err := paywall.NewSite(APISite)
	if err != nil {
		cancel()
		return err
	}
	secret, _ := hex.DecodeString(randomHex(32))
	pw, err := paywall.New(paywall.Options{Site: site, Ledger: led, Accounts: keys.Accounts(resolver),
		OfferSecrets: [][]byte{secret}, RegistrationURL: s.Keydir, Logger: httpx.Logger, RequestID: httpx.RequestID})
	if err != nil {
		cancel()
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/quotes/{symbol}", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"symbol": r.PathValue("symbol"), "price_micros": 123_450_000, "at": time.Now().UTC()})
	})
	mux.HandleFunc("GET /v1/free/status", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return err
	}
	srv := httpx.NewServer(ln.Addr().String(), httpx.Middleware(slog.New(slog.DiscardHandler), pw.Wrap(mux)), slog.New(slog.DiscardHandler), 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	s.APISite = "http://" + ln.Addr().String()
	s.mu.Lock()
	s.stopAPI = func() {
		_ = srv.Close()
		<-done
		cancel()
		_ = rdb.Close()
	}
	s.mu.Unlock()
	s.logf("api site          %s (paywall middleware, in process)", s.APISite)
	return nil
}
