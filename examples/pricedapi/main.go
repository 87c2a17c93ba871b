// Command pricedapi is a priced JSON API metered by pkg/paywall: every
// call to /v1/quotes/{symbol} costs USD 0.002, /v1/free/ is free, and a
// signed crawler's charges land in paycrawl's ledger, on the same daily
// invoices as the gateway's. Run it beside a key directory and its Redis:
//
//	go run ./examples/pricedapi -redis 127.0.0.1:6380 -keydir http://127.0.0.1:8403 -offer-key $(openssl rand -hex 32)
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/paywall"
	"github.com/paycrawl/paycrawl/pkg/paywall/keys"
	"github.com/paycrawl/paycrawl/pkg/pricing"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	redisAddr := flag.String("redis", "127.0.0.1:6380", "Redis of the ledger and the registry")
	keydir := flag.String("keydir", "http://127.0.0.1:8403", "the key directory's public URL")
	offerKey := flag.String("offer-key", "", "hex secret of at least 32 bytes that signs offers")
	flag.Parse()
	if err := run(*listen, *redisAddr, *keydir, *offerKey); err != nil {
		log.Fatal(err)
	}
}

func run(listen, redisAddr, keydir, offerKey string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	secret, err := hex.DecodeString(offerKey)
	if err != nil {
		return err
	}
	rdb, err := ledger.NewClient(ledger.ClientConfig{Addrs: []string{redisAddr}})
	if err != nil {
		return err
	}
	defer rdb.Close()
	led, err := ledger.New(rdb, ledger.Options{})
	if err != nil {
		return err
	}
	store, err := registry.NewStore(rdb, registry.Options{AgentBase: keydir})
	if err != nil {
		return err
	}
	resolver, err := keys.NewResolver(store, keys.ResolverOptions{})
	if err != nil {
		return err
	}
	go func() { _ = resolver.Listen(ctx) }()

	// The paywall: one site, priced by route.
	site, err := paywall.NewSite(pricing.SiteConfig{Host: "api.example", Publisher: "pub_api", Currency: "USD",
		DefaultPrice: "0.002", Rules: []pricing.RuleConfig{{Prefix: "/v1/free/", Free: true}}})
	if err != nil {
		return err
	}
	pw, err := paywall.New(paywall.Options{Site: site, Ledger: led, Accounts: keys.Accounts(resolver),
		OfferSecrets: [][]byte{secret}, RegistrationURL: keydir})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/quotes/{symbol}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"symbol": r.PathValue("symbol"), "price_micros": 123_450_000})
	})
	mux.HandleFunc("GET /v1/free/status", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	srv := &http.Server{Addr: listen, Handler: pw.Wrap(mux), ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("priced API on http://%s (USD 0.002 a call)", listen)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}
