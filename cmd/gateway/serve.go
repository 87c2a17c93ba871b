package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/paycrawl/paycrawl/internal/gateway"
	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/paywall/keys"
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
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("log level %q: %w", level, err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	cfg, err := gateway.LoadConfig(configPath)
	if err != nil {
		return err
	}
	ledgerRedis, err := redisClient(cfg.Ledger)
	if err != nil {
		return err
	}
	defer ledgerRedis.Close()
	// ledger.min_replicas: each append waits for that many replicas before
	// the page is sent (default 1 on a cluster, none on a single server).
	led, err := ledger.New(ledgerRedis, ledger.Options{Logger: logger, MinReplicas: cfg.Ledger.MinReplicasOption()})
	if err != nil {
		return err
	}
	logger.Info("ledger appends wait for replicas", "min_replicas", led.MinReplicas())
	regRedis, err := redisClient(cfg.Registry.RedisConfig)
	if err != nil {
		return err
	}
	defer regRedis.Close()
	store, err := registry.NewStore(regRedis, registry.Options{AgentBase: cfg.Registry.PublicURL,
		HostedAgentsBase:        cfg.Registry.HostedAgentsBase,
		AllowHTTPLoopbackAgents: cfg.Registry.AllowHTTPLoopback,
		AgentHosts:              registry.AgentHosts{AllowPrefixes: cfg.Registry.AllowPrefixes}, Logger: logger})
	if err != nil {
		return err
	}
	resolver, err := keys.NewResolver(store, keys.ResolverOptions{
		TTL: cfg.Registry.CacheTTL, AllowHTTPLoopback: cfg.Registry.AllowHTTPLoopback,
		AllowPrefixes: cfg.Registry.AllowPrefixes, DirectoryProofs: cfg.Registry.DirectoryProofs, Logger: logger})
	if err != nil {
		return err
	}
	lctx, cancelListen := context.WithCancel(context.Background())
	defer cancelListen()
	go func() {
		if err := resolver.Listen(lctx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("registry invalidation listener stopped", "err", err)
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gw, err := gateway.New(gateway.Options{Config: cfg, Ledger: led, Accounts: keys.Accounts(resolver),
		Metrics: gateway.NewMetrics(reg), Logger: logger})
	if err != nil {
		return err
	}

	// SIGHUP reloads sites and prices; a bad file is refused and the
	// running configuration kept.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	hupDone := make(chan struct{})
	defer func() { <-hupDone }()
	hctx, stopHup := context.WithCancel(ctx)
	defer stopHup()
	go func() {
		defer close(hupDone)
		for {
			select {
			case <-hctx.Done():
				return
			case <-hup:
				_ = gw.ReloadFile(configPath)
			}
		}
	}()

	proxyLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		proxyLn.Close()
		return fmt.Errorf("listen %s: %w", cfg.AdminListen, err)
	}
	grace := cfg.ShutdownGrace
	// Paid bodies stream from the origin: the write timeout bounds a slow
	// reader, not the origin.
	proxySrv := httpx.NewServer(cfg.Listen, httpx.Middleware(logger, gw), logger, 5*time.Minute)
	admin := gateway.AdminHandler(cfg, led, reg, time.Now,
		httpx.Check{Name: "ledger", Fn: led.Ping},
		httpx.Check{Name: "registry", Fn: func(ctx context.Context) error { return regRedis.Ping(ctx).Err() }})
	adminSrv := httpx.NewServer(cfg.AdminListen, httpx.Middleware(logger, admin), logger, 0)
	logger.Info("gateway listening", "proxy", proxyLn.Addr().String(), "admin", adminLn.Addr().String(), "sites", len(cfg.Sites))
	if ready != nil {
		ready(addrs{Proxy: proxyLn.Addr().String(), Admin: adminLn.Addr().String()})
	}
	// Either server failing stops both.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- httpx.Serve(sctx, proxySrv, proxyLn, grace) }()
	go func() { errc <- httpx.Serve(sctx, adminSrv, adminLn, grace) }()
	first := <-errc
	cancel()
	err = errors.Join(first, <-errc)
	logger.Info("gateway stopped", "err", err)
	return err
}
