package gateway

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/paycrawl/paycrawl/internal/config"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/pricing"
	"github.com/paycrawl/paycrawl/pkg/refusals"
	"github.com/redis/go-redis/v9"
)

// Config is the gateway's YAML configuration (configs/gateway.example.yaml).
// Zero values take the defaults documented on each field.
type Config struct {
	// Listen is the crawler-facing address; default 127.0.0.1:8402.
	Listen string `yaml:"listen"`
	// AdminListen serves /metrics, /healthz, /readyz and the publisher
	// view; default 127.0.0.1:8412.
	AdminListen string `yaml:"admin_listen"`
	// Scheme is the scheme clients use to reach the gateway ("https" behind
	// a TLS terminator); default "http". Signatures cover it via @target-uri.
	Scheme string `yaml:"scheme"`
	// Network is the x402 network id of the offers; default "paycrawl:402".
	Network string `yaml:"network"`
	// RegistrationURL tells unknown crawlers where to register keys.
	RegistrationURL string `yaml:"registration_url"`
	// OfferKeys are hex secrets (at least 32 bytes each) that sign offer
	// ids; the first signs, all verify. "env:NAME" reads one from the
	// environment. Every replica must share them.
	OfferKeys []string `yaml:"offer_keys"`
	// OfferTTL is how long an offer stays acceptable; default 5m.
	OfferTTL time.Duration `yaml:"offer_ttl"`

	// Ledger is the Redis of the ledger.
	Ledger RedisConfig `yaml:"ledger"`
	// Registry is the Redis of the key directory's registry.
	Registry RegistryConfig `yaml:"registry"`

	// Signatures tunes the signature policy.
	Signatures SignatureConfig `yaml:"signatures"`

	// OriginTimeout bounds the wait for an origin's response headers;
	// default 30s.
	OriginTimeout time.Duration `yaml:"origin_timeout"`
	// LedgerTimeout bounds one ledger call on the request path; default 1s.
	LedgerTimeout time.Duration `yaml:"ledger_timeout"`
	// MaxBodyBytes caps a request body forwarded to an origin; default 10 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ShutdownGrace is how long in-flight requests may take to finish on
	// shutdown; default 20s.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`

	// Refusals tunes the counts of refusals by publisher, day, crawler
	// and reason, for the publishers' page.
	Refusals RefusalsConfig `yaml:"refusals"`

	// Publishers may read their usage on the admin port.
	Publishers []PublisherConfig `yaml:"publishers"`

	// Sites are the publishers' sites and their prices.
	Sites []pricing.SiteConfig `yaml:"sites"`
}

// RedisConfig locates a Redis server or cluster.
type RedisConfig struct {
	ledger.RedisConfig `yaml:",inline"`
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string `yaml:"password_env"`
}

// RegistryConfig locates the key directory's registry.
type RegistryConfig struct {
	RedisConfig `yaml:",inline"`
	// PublicURL is the key directory's public base URL: hosted agents are
	// <PublicURL>/agents/<operator id>.
	PublicURL string `yaml:"public_url"`
	// AllowHTTPLoopback lets external agent directories on loopback be
	// fetched over plain http (demos and tests only). It implies
	// allow_prefixes [127.0.0.0/8, ::1/128].
	AllowHTTPLoopback bool `yaml:"allow_http_loopback"`
	// AllowPrefixes lists non-public address prefixes (CIDR) that external
	// agent directories may be fetched from (demos and tests only). Without
	// them the gateway connects to public addresses only, checked when it
	// connects, however the agent's name resolves.
	AllowPrefixes []netip.Prefix `yaml:"allow_prefixes"`
	// CacheTTL is how long resolved keys and accounts are cached; default
	// 30s, at most 60s.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// HostedAgentsBase is the key directory's hosted_agents_base: agents
	// op-<id>.<its domain> are hosted, resolved from the registry.
	HostedAgentsBase string `yaml:"hosted_agents_base"`
	// DirectoryProofs decides which keys of an external agent's directory
	// are used by their possession proofs: if_signed (the default: proven
	// keys only when the directory proves any, all keys of an unsigned
	// one), required (proven keys only, as Cloudflare) or optional.
	DirectoryProofs deferred.ProofPolicy `yaml:"directory_proofs"`
}

// SignatureConfig tunes deferred.Policy.
type SignatureConfig struct {
	// Profile is what a paying signature must cover besides its payment
	// header: "reference" (the default: @authority and signature-agent, as
	// Cloudflare's web-bot-auth library and the x402 batch-settlement
	// binding sign; the one-use replay guard binds each signature to one
	// page) or "strict" (also @path, or @target-uri for both). A request
	// without a payment is never refused for its coverage.
	Profile string `yaml:"profile"`
	// MaxValidity bounds expires − created; default 24h, the most the Web
	// Bot Auth draft recommends.
	MaxValidity time.Duration `yaml:"max_validity"`
	// ClockSkew is how far created may lie in the future (and expires in
	// the past); default 30s, whatever MaxValidity is.
	ClockSkew time.Duration `yaml:"clock_skew"`
	// RequireNonce refuses signatures without a nonce.
	RequireNonce bool `yaml:"require_nonce"`
}

// RefusalsConfig tunes the refusal counts (pkg/refusals), kept on the
// ledger's Redis.
type RefusalsConfig struct {
	// Off counts nothing.
	Off bool `yaml:"off"`
	// RetentionDays is how long a day's counts are kept after the day
	// ends; default 90.
	RetentionDays int `yaml:"retention_days"`
	// MaxCrawlersPerDay bounds the fields of one publisher-day (one per
	// crawler, reason and code): verified crawlers beyond it are counted
	// as "others"; default 4096.
	MaxCrawlersPerDay int `yaml:"max_crawlers_per_day"`
}

// RecorderOptions are the refusal counter's options of this
// configuration, on rdb, under the ledger's key prefix (prefix + ":rf",
// where the settler's publisher pages read them).
func (c RefusalsConfig) RecorderOptions(rdb redis.UniversalClient, prefix string, m *refusals.Metrics) refusals.Options {
	return refusals.Options{Redis: rdb, Prefix: prefix + ":rf", Retention: time.Duration(c.RetentionDays) * 24 * time.Hour,
		MaxFields: c.MaxCrawlersPerDay, Metrics: m}
}

// PublisherConfig grants a publisher read access to its usage.
type PublisherConfig struct {
	ID string `yaml:"id"`
	// TokenSHA256 is the hex SHA-256 of the publisher's bearer token.
	TokenSHA256 string `yaml:"token_sha256"`
}

// LoadConfig reads and validates a configuration file. Unknown fields are
// errors; every error names its line.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(b)
}

// ParseConfig parses and validates a configuration.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	if err := config.Decode(b, &c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8402"
	}
	if c.AdminListen == "" {
		c.AdminListen = "127.0.0.1:8412"
	}
	if c.Scheme == "" {
		c.Scheme = "http"
	}
	if c.Network == "" {
		c.Network = "paycrawl:402"
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 10 << 20
	}
	if c.Signatures.Profile == "" {
		c.Signatures.Profile = string(deferred.ProfileReference)
	}
	for _, d := range []struct {
		field *time.Duration
		def   time.Duration
	}{
		{&c.OfferTTL, 5 * time.Minute},
		{&c.OriginTimeout, 30 * time.Second},
		{&c.LedgerTimeout, time.Second},
		{&c.ShutdownGrace, 20 * time.Second},
		{&c.Registry.CacheTTL, 30 * time.Second},
		{&c.Signatures.MaxValidity, 24 * time.Hour},
		{&c.Signatures.ClockSkew, 30 * time.Second},
	} {
		if *d.field <= 0 {
			*d.field = d.def
		}
	}
}

// Validate checks the configuration, reporting every problem.
func (c *Config) Validate() error {
	var errs []error
	for _, a := range []string{c.Listen, c.AdminListen} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("listen address %q: %v", a, err))
		}
	}
	if c.Scheme != "http" && c.Scheme != "https" {
		errs = append(errs, fmt.Errorf("scheme %q: want http or https", c.Scheme))
	}
	if d, _ := deferred.NetworkDecimals(c.Network); d != deferred.DecimalsPaycrawl {
		errs = append(errs, fmt.Errorf("network %q counts amounts in 10^-%d units, not paycrawl's micro-units (docs/x402-binding-paycrawl.md): name a paycrawl network such as paycrawl:402", c.Network, d))
	}
	if len(c.OfferKeys) == 0 {
		errs = append(errs, errors.New("offer_keys: at least one secret is required (hex, 32 bytes or more)"))
	}
	if _, err := c.OfferSecrets(); err != nil {
		errs = append(errs, err)
	}
	if _, err := deferred.ParseProfile(c.Signatures.Profile); err != nil {
		errs = append(errs, fmt.Errorf("signatures.profile %q: want reference or strict", c.Signatures.Profile))
	}
	if c.Signatures.ClockSkew > 5*time.Minute {
		errs = append(errs, errors.New("signatures.clock_skew over 5m would make created meaningless; keep it small (default 30s)"))
	}
	if c.Registry.CacheTTL > time.Minute {
		errs = append(errs, errors.New("registry.cache_ttl over 60s would break the revocation guarantee"))
	}
	if _, err := deferred.ParseProofPolicy(string(c.Registry.DirectoryProofs)); err != nil {
		errs = append(errs, fmt.Errorf("registry.directory_proofs: %w", err))
	}
	if err := ledger.CheckPrefix(c.Ledger.Prefix); err != nil {
		errs = append(errs, fmt.Errorf("ledger.prefix: %w", err))
	}
	if c.Registry.Prefix != "" {
		errs = append(errs, errors.New("registry.prefix: the registry's keys have no configurable prefix (ledger.prefix is the ledger's)"))
	}
	if c.Registry.PublicURL == "" {
		errs = append(errs, errors.New("registry.public_url is required (the key directory's public base URL)"))
	}
	if c.Refusals.RetentionDays < 0 || c.Refusals.MaxCrawlersPerDay < 0 {
		errs = append(errs, errors.New("refusals: retention_days and max_crawlers_per_day must not be negative (0 takes the default)"))
	}
	for i, p := range c.Publishers {
		if p.ID == "" {
			errs = append(errs, fmt.Errorf("publishers[%d]: no id", i))
		}
		if b, err := hex.DecodeString(p.TokenSHA256); err != nil || len(b) != 32 {
			errs = append(errs, fmt.Errorf("publishers[%d]: token_sha256 must be 64 hex digits", i))
		}
	}
	if _, err := pricing.Build(c.Sites); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// OfferSecrets decodes the offer keys.
func (c *Config) OfferSecrets() ([][]byte, error) {
	var out [][]byte
	for i, k := range c.OfferKeys {
		k, err := config.Secret(k)
		if err != nil {
			return nil, fmt.Errorf("offer_keys[%d]: %w", i, err)
		}
		b, err := hex.DecodeString(k)
		if err != nil || len(b) < 32 {
			return nil, fmt.Errorf("offer_keys[%d]: want at least 32 bytes of hex", i)
		}
		out = append(out, b)
	}
	return out, nil
}
