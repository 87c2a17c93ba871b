package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/paycrawl/paycrawl/internal/facilitator"
	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/archive/stores"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/netguard"
	"github.com/paycrawl/paycrawl/pkg/paywall/keys"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/api"
	"github.com/paycrawl/paycrawl/pkg/registry/stripecust"
	"github.com/paycrawl/paycrawl/pkg/webhook"
	"github.com/redis/go-redis/v9"
)

// newRedis builds a client with the ledger's bounded timeouts, so that a
// dead Redis gives 503s within about a second instead of hanging. Registry
// writes are idempotent on retry (each script recognises a repeated call),
// so go-redis's small retry budget is kept.
func newRedis(c RedisConfig) (redis.UniversalClient, error) {
	return ledger.NewClient(c.ClientConfig())
}

// serve runs the service until ctx ends. ready, if set, is called with the
// listening address once connections are accepted.
func serve(ctx context.Context, cfg Config, logger *slog.Logger, ready func(addr string)) error {
	rdb, err := newRedis(cfg.Redis)
	if err != nil {
		return err
	}
	defer rdb.Close()
	dirKeys, err := readDirectoryKeys(cfg.DirectoryKeyFiles, logger)
	if err != nil {
		return err
	}
	opts := registry.Options{
		AgentBase:               cfg.PublicURL,
		HostedAgentsBase:        cfg.HostedAgentsBase,
		AllowHTTPLoopbackAgents: cfg.AllowHTTPLoopbackAgents,
		AgentHosts:              registry.AgentHosts{AllowPrefixes: cfg.AgentAllowPrefixes},
		MaxKeys:                 cfg.MaxKeysPerOperator,
		MaxAgents:               cfg.MaxAgentsPerOperator,
		SignupsPerMinute:        cfg.SignupsPerMinute,
		Logger:                  logger,
	}
	if cfg.EVM.Enabled() {
		opts.EVM = registry.WalletDomain{ChainID: cfg.EVM.ChainID, Settler: cfg.EVM.SettlerAddress}
	} else {
		logger.Warn("evm is not configured: the evm rail is unavailable")
	}
	if cfg.Stripe.APIKey != "" {
		c, err := stripecust.New(stripecust.Config{APIKey: cfg.Stripe.APIKey, BaseURL: cfg.Stripe.APIURL})
		if err != nil {
			return err
		}
		opts.Customers = c
	} else {
		logger.Warn("stripe is not configured: the stripe rail is unavailable")
	}
	store, err := registry.NewStore(rdb, opts)
	if err != nil {
		return err
	}
	var usage api.UsageReader
	var led *ledger.Ledger
	if len(cfg.Ledger.Addrs) > 0 {
		lrdb, err := newRedis(cfg.Ledger)
		if err != nil {
			return err
		}
		defer lrdb.Close()
		if led, err = ledger.New(lrdb, ledger.Options{Prefix: cfg.Ledger.Prefix, Logger: logger}); err != nil {
			return err
		}
		tiered := &archive.Tiered{Ledger: led}
		if tiered.Store, err = stores.Open(ctx, cfg.Archive); err != nil {
			return err
		}
		usage = tiered
	}
	// Operators' webhook endpoints live beside the registry; the settler
	// delivers their events. URLs are held to the agents' address rules.
	hookPolicy := &netguard.Policy{Allow: cfg.AgentAllowPrefixes}
	if cfg.AllowHTTPLoopbackAgents {
		hookPolicy.Allow = append(hookPolicy.Allow, netguard.LoopbackPrefixes()...)
	}
	hooks, err := webhook.NewStore(rdb, webhook.Options{Logger: logger, AllowHTTP: cfg.AllowHTTPLoopbackAgents, Policy: hookPolicy})
	if err != nil {
		return err
	}
	srv, err := api.New(api.Config{
		Webhooks:               hooks,
		Usage:                  usage,
		Store:                  store,
		AdminToken:             cfg.AdminToken,
		FinanceToken:           cfg.FinanceToken,
		EVM:                    api.EVMConfig{SettlerAddress: cfg.EVM.SettlerAddress, TokenAddress: cfg.EVM.TokenAddress, ChainID: cfg.EVM.ChainID},
		DirectoryMaxAge:        cfg.DirectoryMaxAge,
		DirectoryKeys:          dirKeys,
		DirectoryProofLifetime: cfg.DirectoryProofLifetime,
		Logger:                 logger,
	})
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if err := rdb.Ping(pctx).Err(); err != nil {
		logger.Warn("redis does not answer yet; /readyz reports it", "addrs", cfg.Redis.Addrs, "err", err)
	}
	cancel()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	handler := srv.Handler()
	if cfg.Facilitator.Enabled {
		fac, stop, err := newFacilitator(cfg, store, led, logger)
		if err != nil {
			return err
		}
		defer stop()
		mux := http.NewServeMux()
		mux.Handle("/x402/", httpx.Middleware(logger, http.StripPrefix("/x402", fac)))
		mux.Handle("/", handler)
		handler = mux
	}
	hs := httpx.NewServer(cfg.Listen, handler, logger, 0)
	logger.Info("keydirectory listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "hosted_agents_base", cfg.HostedAgentsBase, "redis", cfg.Redis.Addrs)
	if ready != nil {
		ready(ln.Addr().String())
	}
	err = httpx.Serve(ctx, hs, ln, cfg.ShutdownGrace)
	logger.Info("keydirectory stopped", "err", err)
	return err
}

// newFacilitator builds the x402 facilitator on the registry (keys,
// billing, publisher tokens) and the ledger; stop ends its key resolver's
// invalidation listener.
func newFacilitator(cfg Config, store *registry.Store, led *ledger.Ledger, logger *slog.Logger) (http.Handler, func(), error) {
	resolver, err := keys.NewResolver(store, keys.ResolverOptions{AllowHTTPLoopback: cfg.AllowHTTPLoopbackAgents,
		AllowPrefixes: cfg.AgentAllowPrefixes, Logger: logger})
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		if err := resolver.Listen(ctx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("facilitator: registry invalidation listener stopped", "err", err)
		}
	}()
	f := cfg.Facilitator
	profile, _ := deferred.ParseProfile(f.Profile) // checked by Validate
	fac, err := facilitator.New(facilitator.Options{
		Ledger: led, Accounts: keys.Accounts(resolver), Publishers: store,
		Policy:  deferred.Policy{Profile: profile, MaxValidity: f.MaxValidity, ClockSkew: f.ClockSkew, RequireNonce: f.RequireNonce},
		Network: f.Network, RatePerSecond: f.RatePerSecond, Burst: f.Burst, Logger: logger,
	})
	if err != nil {
		cancel()
		return nil, nil, err
	}
	logger.Info("x402 facilitator at /x402/", "network", f.Network)
	return fac, cancel, nil
}

// readDirectoryKeys reads the directory signing keys, warning about files
// others can read.
func readDirectoryKeys(paths []string, logger *slog.Logger) ([]ed25519.PrivateKey, error) {
	var keys []ed25519.PrivateKey
	for _, p := range paths {
		priv, k, err := deferred.ReadKeyFile(p)
		if err != nil {
			return nil, fmt.Errorf("directory_key_files: %w", err)
		}
		if deferred.LooseKeyFileMode(p) {
			logger.Warn("directory key file is readable by others", "file", p)
		}
		logger.Info("directory key", "keyid", k.ID, "signs", len(keys) == 0)
		keys = append(keys, priv)
	}
	return keys, nil
}
