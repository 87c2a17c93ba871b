package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/robfig/cron/v3"

	"github.com/paycrawl/paycrawl/internal/config"
	"github.com/paycrawl/paycrawl/internal/finance"
	"github.com/paycrawl/paycrawl/pkg/archive/stores"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/netguard"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/evm/devchain"
)

// Environment variables that override secrets of the file.
const (
	envStripeKey     = "PAYCRAWL_STRIPE_API_KEY"
	envStripeHook    = "PAYCRAWL_STRIPE_WEBHOOK_SECRET"
	envSettlerKey    = "PAYCRAWL_SETTLER_KEY"
	envRedisPassword = "PAYCRAWL_REDIS_PASSWORD"
	envSessionSecret = "PAYCRAWL_FINANCE_SESSION_SECRET"
)

// Config is the settler's configuration: defaults, then the YAML file
// (strict, see internal/config), then the environment (secrets). See configs/settler.example.yaml.
type Config struct {
	// Ledger is the ledger's Redis.
	Ledger RedisConfig `yaml:"ledger"`
	// Registry is the operator registry's Redis (billing profiles).
	Registry RegistryConfig `yaml:"registry"`
	// Schedule drives the daemon (settler run).
	Schedule ScheduleConfig `yaml:"schedule"`
	// Grace, ReviewWindow, RetrySchedule, MaxAttempts, LockTTL, Lookback
	// and Workers are settle.Config's.
	Grace         time.Duration   `yaml:"grace"`
	ReviewWindow  time.Duration   `yaml:"review_window"`
	RetrySchedule []time.Duration `yaml:"retry_schedule"`
	MaxAttempts   int             `yaml:"max_attempts"`
	LockTTL       time.Duration   `yaml:"lock_ttl"`
	LookbackDays  int             `yaml:"lookback_days"`
	// RetentionDays: commitment streams of days this old whose invoices
	// are all final are deleted by the daily run; 0 keeps them all.
	RetentionDays int          `yaml:"retention_days"`
	Workers       int          `yaml:"workers"`
	Stripe        StripeConfig `yaml:"stripe"`
	EVM           EVMConfig    `yaml:"evm"`
	// Listen is where `settler serve` and `settler run` serve the finance
	// API and page, /healthz, /readyz and /metrics; default
	// 127.0.0.1:8404. Empty: `settler run` serves nothing.
	Listen string `yaml:"listen"`
	// Finance holds the finance interface's tokens and session settings;
	// PAYCRAWL_FINANCE_SESSION_SECRET overrides its session secret.
	Finance finance.Config `yaml:"finance"`
	// Webhooks says where the settler may deliver webhook events.
	Webhooks WebhookConfig `yaml:"webhooks"`
	// Payouts configures publishers' earnings and payouts.
	Payouts PayoutsConfig `yaml:"payouts"`
	// Archive is the ledger's cold tier: where final crawler-days go
	// (a directory or an S3 bucket; PAYCRAWL_ARCHIVE_S3_ACCESS_KEY and
	// PAYCRAWL_ARCHIVE_S3_SECRET_KEY override the credentials). Unset, the
	// streams stay in Redis until retention_days.
	Archive stores.Config `yaml:"archive"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
}

// RedisConfig says where a Redis is (PAYCRAWL_REDIS_PASSWORD overrides the
// password of both Redis connections), and for the ledger its key prefix
// (prefix, ledger only).
type RedisConfig struct {
	ledger.RedisConfig `yaml:",inline"`
}

// RegistryConfig is the registry's Redis and the key directory's public URL
// (the registry's required agent base; the settler only reads operators).
type RegistryConfig struct {
	RedisConfig `yaml:",inline"`
	AgentBase   string `yaml:"agent_base"`
}

// ScheduleConfig is the daemon's cron schedule.
type ScheduleConfig struct {
	// Cron is a standard 5-field cron spec; default "10 0 * * *" (00:10
	// every day, after the default 10 minute grace).
	Cron string `yaml:"cron"`
	// TimeZone is an IANA zone name for the spec; default UTC. Ledger days
	// are UTC whatever this is.
	TimeZone string `yaml:"time_zone"`
}

// PayoutsConfig configures publishers' earnings and payouts.
type PayoutsConfig struct {
	// DefaultFeeBPS is the platform fee, in basis points (0 to 10000), of
	// the earnings of a publisher the gateway names but the registry has no
	// account of; default 0.
	DefaultFeeBPS int64 `yaml:"default_fee_bps"`
	// Cron is the payout runs' 5-field cron spec, in Schedule.TimeZone;
	// default "30 1 * * 1" (Mondays 01:30). "" or "off" runs no payouts
	// from the daemon (settler payouts run still does).
	Cron string `yaml:"cron"`
	// Period is what one payout covers: "day", "week" (ISO weeks, from
	// Monday 00:00 UTC; the default) or "month". A run pays each
	// publisher's balance as of the end of the last closed period, once.
	Period string `yaml:"period"`
}

// StripeConfig enables the stripe rail when APIKey is set.
type StripeConfig struct {
	// APIKey; PAYCRAWL_STRIPE_API_KEY overrides it.
	APIKey string `yaml:"api_key"`
	// APIURL is the API base URL; "" means Stripe's. stripe-mock for demos.
	APIURL string `yaml:"api_url"`
	// MinimumCents is the smallest charge; smaller totals carry over.
	MinimumCents int64 `yaml:"minimum_cents"`
	// WebhookSecret is the signing secret (whsec_…) of the Stripe webhook
	// endpoint pointed at the settler's POST /v1/stripe/events (events
	// charge.dispute.*): disputes of paid invoices become chargebacks of
	// their publishers' earnings. PAYCRAWL_STRIPE_WEBHOOK_SECRET overrides
	// it; empty serves no such endpoint.
	WebhookSecret string `yaml:"webhook_secret"`
}

// EVMConfig enables the evm rail when RPCURL is set or Embedded is true.
type EVMConfig struct {
	// RPCURL is a JSON-RPC endpoint.
	RPCURL string `yaml:"rpc_url"`
	// Embedded runs a simulated chain inside the daemon (tests and demos;
	// it forgets everything when the process ends).
	Embedded bool `yaml:"embedded"`
	// EmbeddedHTTP serves the embedded chain's JSON-RPC on this loopback
	// address, so that other processes (a demo crawler) can use it.
	EmbeddedHTTP string `yaml:"embedded_http"`
	// BlockInterval is the embedded chain's block time.
	BlockInterval time.Duration `yaml:"block_interval"`
	// Fund lists addresses the embedded chain gives ether at genesis (the
	// settler's address is always funded).
	Fund []string `yaml:"fund"`
	// SettlerKey is the settler's private key (hex); PAYCRAWL_SETTLER_KEY
	// overrides it. Its address is the spender crawlers approve.
	SettlerKey string `yaml:"settler_key"`
	// Treasury receives the payments.
	Treasury string `yaml:"treasury"`
	// Token is the ERC-20 (6 decimals). With Embedded and no token, the
	// daemon deploys TestUSDC with the settler's key and logs its address.
	Token string `yaml:"token"`
	// Confirmations make a transfer final; ConfirmTimeout bounds the wait
	// within a charge (after it the invoice is pending).
	Confirmations  uint64        `yaml:"confirmations"`
	ConfirmTimeout time.Duration `yaml:"confirm_timeout"`
}

// Enabled reports whether the evm rail is configured.
func (e EVMConfig) Enabled() bool { return e.RPCURL != "" || e.Embedded }

func defaultConfig() Config {
	s := settle.DefaultConfig()
	return Config{
		Ledger:        RedisConfig{RedisConfig: ledger.RedisConfig{Addrs: []string{"127.0.0.1:6380"}}},
		Registry:      RegistryConfig{RedisConfig: RedisConfig{RedisConfig: ledger.RedisConfig{Addrs: []string{"127.0.0.1:6380"}}}, AgentBase: "http://127.0.0.1:8403"},
		Schedule:      ScheduleConfig{Cron: "10 0 * * *", TimeZone: "UTC"},
		Grace:         s.Grace,
		ReviewWindow:  s.ReviewWindow,
		RetrySchedule: s.RetrySchedule,
		MaxAttempts:   s.MaxAttempts,
		LockTTL:       s.LockTTL,
		LookbackDays:  s.Lookback,
		RetentionDays: s.RetentionDays,
		Workers:       s.Workers,
		Stripe:        StripeConfig{MinimumCents: 50},
		EVM:           EVMConfig{BlockInterval: devchain.DefaultBlockInterval, Confirmations: 2, ConfirmTimeout: time.Minute},
		Listen:        "127.0.0.1:8404",
		LogLevel:      "info",
		Payouts:       PayoutsConfig{Cron: "30 1 * * 1", Period: "week"},
	}
}

// loadConfig reads the file at path ("" for none) over the defaults, then
// the secrets of getenv.
func loadConfig(path string, getenv func(string) string) (Config, error) {
	cfg := defaultConfig()
	if path != "" {
		if err := config.Load(path, &cfg); err != nil {
			return Config{}, err
		}
	}
	config.FromEnv(getenv, map[string]*string{
		envStripeKey:     &cfg.Stripe.APIKey,
		envStripeHook:    &cfg.Stripe.WebhookSecret,
		envSettlerKey:    &cfg.EVM.SettlerKey,
		envSessionSecret: &cfg.Finance.SessionSecret,
	})
	cfg.Archive.FromEnv(getenv)
	if v := getenv(envRedisPassword); v != "" {
		cfg.Ledger.Password, cfg.Registry.Password = v, v
	}
	return cfg, nil
}

// Settle returns the settle.Config part.
func (c Config) Settle() settle.Config {
	s := settle.DefaultConfig()
	s.Grace, s.ReviewWindow, s.RetrySchedule, s.MaxAttempts = c.Grace, c.ReviewWindow, c.RetrySchedule, c.MaxAttempts
	s.LockTTL, s.Lookback, s.Workers = c.LockTTL, c.LookbackDays, c.Workers
	s.RetentionDays = c.RetentionDays
	return s
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for name, r := range map[string]RedisConfig{"ledger": c.Ledger, "registry": c.Registry.RedisConfig} {
		if len(r.Addrs) == 0 {
			bad("%s.addrs: required", name)
		}
		for _, a := range r.Addrs {
			if a == "" {
				bad("%s.addrs: empty address", name)
			}
		}
	}
	if err := ledger.CheckPrefix(c.Ledger.Prefix); err != nil {
		bad("ledger.prefix: %v", err)
	}
	if c.Registry.Prefix != "" {
		bad("registry.prefix: the registry's keys have no configurable prefix")
	}
	if config.HTTPURL(c.Registry.AgentBase) != nil {
		bad("registry.agent_base %q: want an absolute http(s) URL", c.Registry.AgentBase)
	}
	if _, err := time.LoadLocation(c.Schedule.TimeZone); err != nil {
		bad("schedule.time_zone %q: %v", c.Schedule.TimeZone, err)
	}
	if _, err := cron.ParseStandard(c.Schedule.Cron); err != nil {
		bad("schedule.cron %q: %v", c.Schedule.Cron, err)
	}
	if err := c.Settle().Validate(); err != nil {
		bad("%v", err)
	}
	if c.Payouts.DefaultFeeBPS < 0 || c.Payouts.DefaultFeeBPS > registry.MaxFeeBPS {
		bad("payouts.default_fee_bps %d: want 0 to %d", c.Payouts.DefaultFeeBPS, registry.MaxFeeBPS)
	}
	if c.Stripe.APIURL != "" {
		if config.HTTPURL(c.Stripe.APIURL) != nil {
			bad("stripe.api_url %q: want an absolute http(s) URL", c.Stripe.APIURL)
		}
		if c.Stripe.APIKey == "" {
			bad("stripe.api_url is set but stripe.api_key (or %s) is not", envStripeKey)
		}
	}
	if c.Stripe.WebhookSecret != "" && (c.Stripe.APIKey == "" || !strings.HasPrefix(c.Stripe.WebhookSecret, "whsec_")) {
		bad("stripe.webhook_secret (or %s): want the endpoint's whsec_… secret, with stripe.api_key set", envStripeHook)
	}
	if c.Stripe.MinimumCents < 1 {
		bad("stripe.minimum_cents %d: want 1 or more", c.Stripe.MinimumCents)
	}
	errs = append(errs, config.Validate(c.EVM, c.Finance, c.Archive))
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			bad("listen %q: want host:port", c.Listen)
		}
	}
	for _, p := range c.Webhooks.Allow {
		if _, err := netip.ParsePrefix(p); err != nil {
			bad("webhooks.allow %q: want a CIDR prefix such as 127.0.0.0/8", p)
		}
	}
	if _, err := config.ParseLevel(c.LogLevel); err != nil {
		bad("log_level: %v", err)
	}
	return errors.Join(errs...)
}

// Validate reports every problem of an enabled evm rail; a disabled one
// has none.
func (e EVMConfig) Validate() error {
	if !e.Enabled() {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("evm."+format, args...)) }
	if e.RPCURL != "" && e.Embedded {
		bad("rpc_url and embedded: choose one")
	}
	if e.RPCURL != "" {
		if u, err := url.Parse(e.RPCURL); err != nil || u.Scheme == "" || u.Host == "" {
			bad("rpc_url %q: want an absolute URL (http, https, ws, wss)", e.RPCURL)
		}
	}
	if e.EmbeddedHTTP != "" && !e.Embedded {
		bad("embedded_http is set but embedded is not")
	}
	if e.SettlerKey == "" {
		bad("settler_key (or %s): required", envSettlerKey)
	} else if _, err := devchain.ParseKey(e.SettlerKey); err != nil {
		bad("settler_key: not a hex secp256k1 private key")
	}
	addr := func(name, v string, required bool) {
		switch {
		case v == "" && required:
			bad("%s: required", name)
		case v != "" && (!common.IsHexAddress(v) || common.HexToAddress(v) == (common.Address{})):
			bad("%s %q: want a 0x address", name, v)
		}
	}
	addr("treasury", e.Treasury, true)
	addr("token", e.Token, !e.Embedded)
	for i, f := range e.Fund {
		addr(fmt.Sprintf("fund[%d]", i), f, true)
	}
	if e.Confirmations < 1 {
		bad("confirmations %d: want 1 or more", e.Confirmations)
	}
	if e.ConfirmTimeout <= 0 {
		bad("confirm_timeout %s: want a positive duration", e.ConfirmTimeout)
	}
	if e.Embedded && e.BlockInterval <= 0 {
		bad("block_interval %s: want a positive duration", e.BlockInterval)
	}
	return errors.Join(errs...)
}

// WebhookConfig is where webhook events may be delivered. Endpoints are
// registered through the finance API (finance) and the key directory API
// (operators); the settler delivers both.
type WebhookConfig struct {
	// Disabled stops the settler from emitting and delivering events.
	Disabled bool `yaml:"disabled"`
	// AllowHTTP accepts http:// endpoints (the demo, tests); default https
	// only.
	AllowHTTP bool `yaml:"allow_http"`
	// Allow lists address prefixes deliveries may reach although they are
	// not public (the demo: 127.0.0.0/8); default public addresses only.
	Allow []string `yaml:"allow"`
}

// policy is the delivery address policy.
func (w WebhookConfig) policy() *netguard.Policy {
	p := &netguard.Policy{}
	for _, s := range w.Allow {
		if pre, err := netip.ParsePrefix(s); err == nil {
			p.Allow = append(p.Allow, pre)
		}
	}
	return p
}
