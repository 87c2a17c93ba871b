package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/paycrawl/paycrawl/internal/finance"
	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/internal/publisher"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// httpGrace bounds how long in-flight requests (an audit, an export) may
// finish when the settler stops.
const httpGrace = 10 * time.Second

// notifyEvery is how often the settler looks for new events, and
// webhookEvery how often for due deliveries.
const (
	notifyEvery  = 15 * time.Second
	webhookEvery = 5 * time.Second
)

func cmdServe(ctx context.Context, args []string, e ioEnv) error {
	return withApp(ctx, "serve", args, e, false, wiring{rails: true, refunds: true}, func(_ opts, a *app) error {
		if a.cfg.Listen == "" {
			return errors.New("listen: required to serve (default 127.0.0.1:8404)")
		}
		ln, h, err := a.listen()
		if err != nil {
			return err
		}
		return a.serve(ctx, ln, h)
	})
}

// listen binds the finance address and builds its handler, so that a
// taken port fails the command at once.
func (a *app) listen() (net.Listener, http.Handler, error) {
	h, err := a.handler()
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", a.cfg.Listen, err)
	}
	return ln, h, nil
}

// handler is the settler's HTTP surface: the finance API and page, the
// publishers' page and statements (/publisher/, /v1/publisher/), and
// /healthz, /readyz (the ledger answers) and /metrics.
func (a *app) handler() (http.Handler, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	names := func(ctx context.Context, account string) string {
		if op, err := a.store.Operator(ctx, account); err == nil {
			return op.Name
		}
		return ""
	}
	pub, err := publisher.New(publisher.Options{Book: a.book, Accounts: a.store, Names: names, Refusals: a.refusals, Secret: []byte(a.cfg.Finance.SessionSecret),
		SecureCookies: a.cfg.Finance.SecureCookies, Logger: a.log})
	if err != nil {
		return nil, err
	}
	fo := finance.Options{Ledger: a.tiered, Ops: a.settler, Operators: a.store, Webhooks: a.hooks, Config: a.cfg.Finance,
		Logger: a.log, Registerer: reg, Mount: pub, Payouts: a.payouts, Agreements: settle.RegistryArrangements{Store: a.store}}
	if a.stripe != nil && a.cfg.Stripe.WebhookSecret != "" {
		fo.Disputes = &settle.Disputes{Ledger: a.ledger, Book: a.book, Intents: a.stripe, Logger: a.log}
		fo.StripeWebhookSecret = a.cfg.Stripe.WebhookSecret
	}
	fin, err := finance.New(fo)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	httpx.Health(mux, httpx.Check{Name: "ledger", Fn: a.ledger.Ping})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", fin.Handler())
	return mux, nil
}

// serve serves h on ln until ctx ends.
func (a *app) serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := httpx.NewServer(a.cfg.Listen, h, a.log, 0)
	a.log.Info("settler: finance API and review page", "url", "http://"+ln.Addr().String()+"/",
		"tokens", len(a.cfg.Finance.Tokens))
	if a.hooks != nil {
		// Events and their deliveries run beside the finance API.
		hctx, stop := context.WithCancel(ctx)
		defer stop()
		n := &finance.Notifier{Ledger: a.ledger, Operators: a.store, Webhooks: a.hooks, Logger: a.log}
		go func() { _ = n.Run(hctx, notifyEvery) }()
		go func() { _ = a.hooks.Run(hctx, webhookEvery) }()
	}
	err := httpx.Serve(ctx, srv, ln, httpGrace)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
