package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/internal/config"
	"github.com/paycrawl/paycrawl/pkg/archive/stores"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// Config is the service's configuration: defaults, then the YAML file named
// by -config (strict, see internal/config), then the environment
// (secrets), then flags.
type Config struct {
	// Listen is the TCP address to serve on.
	Listen string `yaml:"listen"`
	// PublicURL is the base URL clients reach the service at; hosted agent
	// URLs are PublicURL/agents/<operator id> unless HostedAgentsBase is set.
	PublicURL string `yaml:"public_url"`
	// HostedAgentsBase, when set, is an origin such as
	// https://agents.paycrawl.example under whose domain every operator
	// gets a host of its own (op-<id>.agents.paycrawl.example, routed to
	// this service by a wildcard DNS name and certificate): its hosted
	// agent URL, serving its directory at the well-known path.
	HostedAgentsBase string `yaml:"hosted_agents_base"`
	// DirectoryKeyFiles are Ed25519 private JWK files (crawlctl keygen
	// writes them): the first signs every hosted directory response, all
	// are published at the service's own well-known directory. To rotate,
	// add the new key second, wait a directory max-age, then move it first.
	// Empty means a key generated at each start (tests and demos only).
	DirectoryKeyFiles []string `yaml:"directory_key_files"`
	// DirectoryProofLifetime is how long the signature on a directory
	// response is valid; at least directory_max_age, at most 7 days.
	DirectoryProofLifetime time.Duration `yaml:"directory_proof_lifetime"`
	Redis                  RedisConfig   `yaml:"redis"`
	// Ledger is the ledger's Redis, read for GET /v1/usage; with no
	// addresses, usage answers 501.
	Ledger RedisConfig `yaml:"ledger"`
	// Archive is the ledger's cold tier, where the settler moves final
	// crawler-days (the settler's archive setting; read-only credentials
	// suffice): GET /v1/usage/commitments reads archived days from it.
	Archive stores.Config `yaml:"archive"`
	// AdminToken authorizes the admin routes; at least 32 characters. The
	// environment variable PAYCRAWL_ADMIN_TOKEN overrides it.
	AdminToken string `yaml:"admin_token"`
	// FinanceToken, optional, authorizes the read-only finance routes
	// (every agreement, /v1/finance/...); at least 32 characters and not the
	// admin token. The environment variable PAYCRAWL_KEYDIR_FINANCE_TOKEN
	// overrides it.
	FinanceToken string `yaml:"finance_token"`
	// DirectoryMaxAge is the Cache-Control max-age of hosted directories,
	// at most 60 s.
	DirectoryMaxAge time.Duration `yaml:"directory_max_age"`
	// AllowHTTPLoopbackAgents lets operators register http agent URLs on
	// loopback hosts (tests and demos only). It implies
	// agent_allow_prefixes [127.0.0.0/8, ::1/128].
	AllowHTTPLoopbackAgents bool `yaml:"allow_http_loopback_agents"`
	// AgentAllowPrefixes lists non-public address prefixes (CIDR) that
	// external agent URLs may point at (tests and demos only). Without them
	// agent URLs must name hosts that resolve to public addresses only.
	AgentAllowPrefixes []netip.Prefix `yaml:"agent_allow_prefixes"`
	// MaxKeysPerOperator and MaxAgentsPerOperator bound what an operator
	// holds; 0 takes the registry's defaults (16 and 8).
	MaxKeysPerOperator   int `yaml:"max_keys_per_operator"`
	MaxAgentsPerOperator int `yaml:"max_agents_per_operator"`
	// SignupsPerMinute is the most sign-ups per client address and minute;
	// 0 means 10, negative means no limit.
	SignupsPerMinute int          `yaml:"signups_per_minute"`
	Stripe           StripeConfig `yaml:"stripe"`
	EVM              EVMConfig    `yaml:"evm"`
	// Facilitator serves the x402 facilitator API under /x402/.
	Facilitator FacilitatorConfig `yaml:"facilitator"`
	// ShutdownGrace is how long in-flight requests get on shutdown.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
}

// RedisConfig says where a Redis is; the environment variable
// PAYCRAWL_REDIS_PASSWORD overrides the registry's password.
type RedisConfig = ledger.RedisConfig

// StripeConfig enables the stripe rail when APIKey is set.
type StripeConfig struct {
	// APIKey; the environment variable PAYCRAWL_STRIPE_API_KEY overrides it.
	APIKey string `yaml:"api_key"`
	// APIURL is the API base URL; "" means Stripe's. stripe-mock for demos.
	APIURL string `yaml:"api_url"`
}

// EVMConfig enables the evm rail when both addresses are set; the chain id
// is then required. Operators' wallet proofs name the chain id and the
// settler address, so both must be the settler's own: proofs made for other
// values are refused, and the settler refuses to charge them.
type EVMConfig struct {
	// SettlerAddress is the settler's address: the spender operators
	// approve an allowance to.
	SettlerAddress string `yaml:"settler_address"`
	// TokenAddress is the USDC contract.
	TokenAddress string `yaml:"token_address"`
	// ChainID is the chain's id (1 for Ethereum, 1337 for the dev chain).
	ChainID int64 `yaml:"chain_id"`
}

// FacilitatorConfig turns on the x402 facilitator API (GET /x402/supported,
// POST /x402/verify, POST /x402/settle) for resource servers holding a
// publisher token. It records commitments, so it needs ledger.addrs.
type FacilitatorConfig struct {
	Enabled bool `yaml:"enabled"`
	// Profile, MaxValidity, ClockSkew and RequireNonce are the signature
	// policy, as the gateway's signatures section says (reference, 24h,
	// 30s, false by default).
	Profile      string        `yaml:"profile"`
	MaxValidity  time.Duration `yaml:"max_validity"`
	ClockSkew    time.Duration `yaml:"clock_skew"`
	RequireNonce bool          `yaml:"require_nonce"`
	// Network is the x402 network settled; default paycrawl:402.
	Network string `yaml:"network"`
	// RatePerSecond and Burst bound each publisher's calls; 50 and 100 by
	// default.
	RatePerSecond float64 `yaml:"rate_per_second"`
	Burst         int     `yaml:"burst"`
}

// Enabled reports whether the evm rail is configured.
func (e EVMConfig) Enabled() bool { return e.SettlerAddress != "" || e.TokenAddress != "" }

func defaultConfig() Config {
	return Config{
		Listen:                 "127.0.0.1:8403",
		PublicURL:              "http://127.0.0.1:8403",
		Redis:                  RedisConfig{Addrs: []string{"127.0.0.1:6380"}},
		DirectoryMaxAge:        30 * time.Second,
		DirectoryProofLifetime: time.Hour,
		ShutdownGrace:          10 * time.Second,
		LogLevel:               "info",
	}
}

// loadConfig builds the configuration from args (flags) and getenv.
func loadConfig(args []string, getenv func(string) string) (Config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("keydirectory", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("config", "", "YAML configuration file")
	listen := fs.String("listen", "", "address to listen on (default 127.0.0.1:8403)")
	public := fs.String("public-url", "", "base URL clients reach the service at")
	redisAddr := fs.String("redis", "", "Redis address(es), comma-separated")
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("%w\nusage: keydirectory [-config file.yaml] [-listen addr] [-public-url url] [-redis host:port,...]", err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *path != "" {
		if err := config.Load(*path, &cfg); err != nil {
			return Config{}, err
		}
	}
	config.FromEnv(getenv, map[string]*string{
		"PAYCRAWL_ADMIN_TOKEN":          &cfg.AdminToken,
		"PAYCRAWL_KEYDIR_FINANCE_TOKEN": &cfg.FinanceToken,
		"PAYCRAWL_STRIPE_API_KEY":       &cfg.Stripe.APIKey,
		"PAYCRAWL_REDIS_PASSWORD":       &cfg.Redis.Password,
	})
	cfg.Archive.FromEnv(getenv)
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *public != "" {
		cfg.PublicURL = *public
	}
	if *redisAddr != "" {
		cfg.Redis.Addrs = strings.Split(*redisAddr, ",")
	}
	return cfg, nil
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Listen == "" {
		bad("listen: required")
	}
	if config.HTTPURL(c.PublicURL) != nil {
		bad("public_url %q: want an absolute http(s) URL", c.PublicURL)
	}
	if len(c.Redis.Addrs) == 0 {
		bad("redis.addrs: required")
	}
	if err := ledger.CheckPrefix(c.Ledger.Prefix); err != nil {
		bad("ledger.prefix: %v", err)
	}
	if c.Redis.Prefix != "" {
		bad("redis.prefix: the registry's keys have no configurable prefix (ledger.prefix is the ledger's)")
	}
	for _, a := range append(append([]string{}, c.Redis.Addrs...), c.Ledger.Addrs...) {
		if a == "" {
			bad("redis addrs: empty address")
		}
	}
	if len(c.AdminToken) < 32 {
		bad("admin_token (or PAYCRAWL_ADMIN_TOKEN): required, at least 32 characters")
	}
	if c.FinanceToken != "" && (len(c.FinanceToken) < 32 || c.FinanceToken == c.AdminToken) {
		bad("finance_token (or PAYCRAWL_KEYDIR_FINANCE_TOKEN): at least 32 characters, and not the admin token")
	}
	if c.DirectoryMaxAge < time.Second || c.DirectoryMaxAge > registry.MaxTTL {
		bad("directory_max_age %s: want 1s to %s (the revocation guarantee)", c.DirectoryMaxAge, registry.MaxTTL)
	}
	if c.HostedAgentsBase != "" {
		if config.Origin(c.HostedAgentsBase) != nil {
			bad("hosted_agents_base %q: want an http(s) origin such as https://agents.paycrawl.example", c.HostedAgentsBase)
		}
	}
	if c.DirectoryProofLifetime < c.DirectoryMaxAge || c.DirectoryProofLifetime > 7*24*time.Hour {
		bad("directory_proof_lifetime %s: want directory_max_age (%s) to 7 days, so that no cache serves an expired proof", c.DirectoryProofLifetime, c.DirectoryMaxAge)
	}
	if f := c.Facilitator; f.Enabled {
		if len(c.Ledger.Addrs) == 0 {
			bad("facilitator.enabled: needs ledger.addrs, where it records commitments")
		}
		if _, err := deferred.ParseProfile(f.Profile); err != nil {
			bad("facilitator.profile: %v", err)
		}
		if f.MaxValidity < 0 || f.ClockSkew < 0 || f.RatePerSecond < 0 || f.Burst < 0 {
			bad("facilitator: max_validity, clock_skew, rate_per_second and burst must not be negative")
		}
	}
	for i, f := range c.DirectoryKeyFiles {
		if f == "" {
			bad("directory_key_files[%d]: empty path", i)
		}
	}
	if c.ShutdownGrace <= 0 {
		bad("shutdown_grace %s: want a positive duration", c.ShutdownGrace)
	}
	if c.Stripe.APIURL != "" {
		if config.HTTPURL(c.Stripe.APIURL) != nil {
			bad("stripe.api_url %q: want an absolute http(s) URL", c.Stripe.APIURL)
		}
		if c.Stripe.APIKey == "" {
			bad("stripe.api_url is set but stripe.api_key (or PAYCRAWL_STRIPE_API_KEY) is not")
		}
	}
	if (c.EVM.SettlerAddress == "") != (c.EVM.TokenAddress == "") {
		bad("evm: set both settler_address and token_address, or neither")
	}
	if c.EVM.Enabled() && c.EVM.ChainID <= 0 {
		bad("evm.chain_id %d: want the chain's positive id (wallet proofs name it)", c.EVM.ChainID)
	}
	if !c.EVM.Enabled() && c.EVM.ChainID != 0 {
		bad("evm.chain_id is set but settler_address and token_address are not")
	}
	for name, a := range map[string]string{"evm.settler_address": c.EVM.SettlerAddress, "evm.token_address": c.EVM.TokenAddress} {
		if a != "" {
			if _, err := registry.ParseWallet(a); err != nil {
				bad("%s: %v", name, err)
			}
		}
	}
	if _, err := config.ParseLevel(c.LogLevel); err != nil {
		bad("log_level: %v", err)
	}
	errs = append(errs, config.Validate(c.Archive))
	if c.Archive.Enabled() && len(c.Ledger.Addrs) == 0 {
		bad("archive: needs the ledger (ledger.addrs)")
	}
	return errors.Join(errs...)
}
