// Package exampleenv is what the example servers share: flags naming the
// ledger's Redis and the key directory, the paywall's options built from
// them, and serving until SIGINT or SIGTERM. A server of your own does the
// same in its main.
package exampleenv

import (
	"context"
	"encoding/hex"
	"flag"
	"log"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/paywall"
	"github.com/paycrawl/paycrawl/pkg/paywall/keys"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// Main parses the flags, builds the paywall's options (ledger, accounts,
// offer secret, registration URL) and serves what handler returns, on
// listen (the default address) until a signal. It exits on an error.
func Main(listen string, handler func(paywall.Options) (http.Handler, error)) {
	addr := flag.String("listen", listen, "address to serve on")
	redisAddr := flag.String("redis", "127.0.0.1:6380", "Redis of the ledger and the registry")
	keydir := flag.String("keydir", "http://127.0.0.1:8403", "the key directory's public URL")
	offerKey := flag.String("offer-key", "", "hex secret of at least 32 bytes that signs offers")
	flag.Parse()
	if err := run(*addr, *redisAddr, *keydir, *offerKey, handler); err != nil {
		log.Fatal(err)
	}
}

func run(listen, redisAddr, keydir, offerKey string, handler func(paywall.Options) (http.Handler, error)) error {
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
	h, err := handler(paywall.Options{Ledger: led, Accounts: keys.Accounts(resolver),
		OfferSecrets: [][]byte{secret}, RegistrationURL: keydir})
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: listen, Handler: h, ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("serving on http://%s", listen)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}
