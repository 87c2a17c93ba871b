package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/paycrawl/paycrawl/internal/gateway"
	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/paywall/keys"
	"github.com/paycrawl/paycrawl/pkg/refusals"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
)

// addrs are the gateway's listening addresses, reported once it serves.
type addrs struct{ Proxy, Admin string }

func redisClient(c gateway.RedisConfig) (redis.UniversalClient, error) {
	cc := c.ClientConfig()
	cc.PoolSize = 64
	if c.PasswordEnv != "" {
		cc.Password = os.Getenv(c.PasswordEnv)
	}
	return ledger.NewClient(cc)
}

// serve runs the gateway until ctx ends; ready, if set, gets the addresses.
func serve(ctx context.Context, configPath, level string, ready func(addrs)) error {
	logger, err := newLogger(level)
	if err != nil {
		return err
	}
	cfg, err := gateway.LoadConfig(configPath)
	if err != nil {
		return err
	}
	st, err := openStores(cfg, logger)
	if err != nil {
		return err
	}
	defer st.close()
	defer listenInvalidations(st.resolver, logger)()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := gateway.NewMetrics(reg)
	var recorder gateway.RefusalRecorder
	if !cfg.Refusals.Off {
		ro := cfg.Refusals.RecorderOptions(st.ledgerRedis, cfg.Ledger.KeyPrefix(), metrics.Refusals)
		ro.Logger = logger
		rec, err := refusals.NewRecorder(ro)
		if err != nil {
			return err
		}
		// Counts flush every second beside the requests; the last flush
		// runs after both servers stopped (defers run last in, first out).
		rctx, stopRec := context.WithCancel(context.Background())
		recDone := make(chan struct{})
		go func() { defer close(recDone); rec.Run(rctx) }()
		defer func() { stopRec(); <-recDone }()
		recorder = rec
	}
	gw, err := gateway.New(gateway.Options{Config: cfg, Ledger: st.ledger, Accounts: keys.Accounts(st.resolver),
		Agreements: keys.Agreements(st.resolver), Refusals: recorder, Metrics: metrics, Logger: logger})
	if err != nil {
		return err
	}
	// SIGHUP reloads sites and prices; a bad file is refused and the
	// running configuration kept.
	defer reloadOnHUP(ctx, func() { _ = gw.ReloadFile(configPath) })()

	proxyLn, adminLn, err := listen(cfg)
	if err != nil {
		return err
	}
	// Paid bodies stream from the origin: the write timeout bounds a slow
	// reader, not the origin.
	proxySrv := httpx.NewServer(cfg.Listen, httpx.Middleware(logger, gw), logger, 5*time.Minute)
	admin := gateway.AdminHandler(cfg, st.ledger, reg, time.Now,
		httpx.Check{Name: "ledger", Fn: st.ledger.Ping},
		httpx.Check{Name: "registry", Fn: func(ctx context.Context) error { return st.regRedis.Ping(ctx).Err() }})
	adminSrv := httpx.NewServer(cfg.AdminListen, httpx.Middleware(logger, admin), logger, 0)
	logger.Info("gateway listening", "proxy", proxyLn.Addr().String(), "admin", adminLn.Addr().String(), "sites", len(cfg.Sites))
	if ready != nil {
		ready(addrs{Proxy: proxyLn.Addr().String(), Admin: adminLn.Addr().String()})
	}
	err = serveBoth(ctx, cfg.ShutdownGrace, served{proxySrv, proxyLn}, served{adminSrv, adminLn})
	logger.Info("gateway stopped", "err", err)
	return err
}

// newLogger is the process's JSON logger on stderr at level.
func newLogger(level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})), nil
}

// stores are the gateway's Redis clients and what it reads through them.
type stores struct {
	ledgerRedis, regRedis redis.UniversalClient
	ledger                *ledger.Ledger
	resolver              *keys.Resolver
}

// openStores connects to the ledger's and the registry's Redis and builds
// the ledger and the key resolver on them.
func openStores(cfg *gateway.Config, logger *slog.Logger) (_ *stores, err error) {
	st := &stores{}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	if st.ledgerRedis, err = redisClient(cfg.Ledger); err != nil {
		return nil, err
	}
	// ledger.min_replicas: each append waits for that many replicas before
	// the page is sent (default 1 on a cluster, none on a single server).
	if st.ledger, err = ledger.New(st.ledgerRedis, ledger.Options{Prefix: cfg.Ledger.Prefix, Logger: logger, MinReplicas: cfg.Ledger.MinReplicasOption()}); err != nil {
		return nil, err
	}
	logger.Info("ledger appends wait for replicas", "min_replicas", st.ledger.MinReplicas())
	if st.regRedis, err = redisClient(cfg.Registry.RedisConfig); err != nil {
		return nil, err
	}
	store, err := registry.NewStore(st.regRedis, registry.Options{AgentBase: cfg.Registry.PublicURL,
		HostedAgentsBase:        cfg.Registry.HostedAgentsBase,
		AllowHTTPLoopbackAgents: cfg.Registry.AllowHTTPLoopback,
		AgentHosts:              registry.AgentHosts{AllowPrefixes: cfg.Registry.AllowPrefixes}, Logger: logger})
	if err != nil {
		return nil, err
	}
	st.resolver, err = keys.NewResolver(store, keys.ResolverOptions{
		TTL: cfg.Registry.CacheTTL, AllowHTTPLoopback: cfg.Registry.AllowHTTPLoopback,
		AllowPrefixes: cfg.Registry.AllowPrefixes, DirectoryProofs: cfg.Registry.DirectoryProofs, Logger: logger})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// close closes the Redis clients that were opened.
func (st *stores) close() {
	for _, c := range []redis.UniversalClient{st.regRedis, st.ledgerRedis} {
		if c != nil {
			_ = c.Close()
		}
	}
}

// listenInvalidations applies the registry's invalidations to the
// resolver's cache until the returned stop is called, which waits for the
// listener to end.
func listenInvalidations(resolver *keys.Resolver, logger *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := resolver.Listen(ctx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("registry invalidation listener stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }
}

// reloadOnHUP calls reload on each SIGHUP until ctx ends or the returned
// stop is called; stop stops the signal and returns once the goroutine has
// exited.
func reloadOnHUP(ctx context.Context, reload func()) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload()
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
}

// listen opens the proxy's and the admin's listeners.
func listen(cfg *gateway.Config) (proxy, admin net.Listener, err error) {
	if proxy, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	if admin, err = net.Listen("tcp", cfg.AdminListen); err != nil {
		proxy.Close()
		return nil, nil, fmt.Errorf("listen %s: %w", cfg.AdminListen, err)
	}
	return proxy, admin, nil
}

// served is a server and its listener.
type served struct {
	srv *http.Server
	ln  net.Listener
}

// serveBoth runs the servers until ctx ends or one fails, which stops
// both, each giving its requests in flight up to grace to finish.
func serveBoth(ctx context.Context, grace time.Duration, a, b served) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- httpx.Serve(sctx, a.srv, a.ln, grace) }()
	go func() { errc <- httpx.Serve(sctx, b.srv, b.ln, grace) }()
	first := <-errc
	cancel()
	return errors.Join(first, <-errc)
}
