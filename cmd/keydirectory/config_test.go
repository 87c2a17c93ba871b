package main

import (
	"github.com/paycrawl/paycrawl/internal/golden"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodToken = "0123456789abcdef0123456789abcdef"

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := loadConfig([]string{"-config", "../../configs/keydirectory.example.yaml"}, env(map[string]string{"PAYCRAWL_ADMIN_TOKEN": goodToken}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the example config does not validate: %v", err)
	}
	if cfg.Listen != "127.0.0.1:8403" || cfg.DirectoryMaxAge != 30*time.Second || cfg.AdminToken != goodToken {
		t.Fatalf("config %+v", cfg)
	}
}

func TestConfigPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kd.yaml")
	if err := os.WriteFile(path, []byte("listen: 127.0.0.1:9000\nadmin_token: from-the-file-0123456789abcdef0123\nstripe:\n  api_key: sk_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig([]string{"-config", path, "-listen", "127.0.0.1:9001", "-redis", "a:1,b:2"},
		env(map[string]string{"PAYCRAWL_STRIPE_API_KEY": "sk_env"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9001" || cfg.Stripe.APIKey != "sk_env" || cfg.AdminToken != "from-the-file-0123456789abcdef0123" ||
		len(cfg.Redis.Addrs) != 2 || cfg.PublicURL != "http://127.0.0.1:8403" {
		t.Fatalf("config %+v", cfg)
	}
}

func TestConfigRefusals(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		args []string
		want string
	}{
		{"unknown field", "listne: x\n", nil, "listne"},
		{"not yaml", "listen: [\n", nil, "yaml"},
		{"stray argument", "", []string{"extra"}, "unexpected"},
		{"unknown flag", "", []string{"-nope"}, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kd.yaml")
			_ = os.WriteFile(path, []byte(tt.yaml), 0o600)
			_, err := loadConfig(append([]string{"-config", path}, tt.args...), env(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	good := defaultConfig()
	good.AdminToken = goodToken
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"no admin token", func(c *Config) { c.AdminToken = "" }, "admin_token"},
		{"a registry prefix", func(c *Config) { c.Redis.Prefix = "x" }, "redis.prefix"},
		{"short admin token", func(c *Config) { c.AdminToken = "short" }, "admin_token"},
		{"short finance token", func(c *Config) { c.FinanceToken = "short" }, "finance_token"},
		{"finance token is the admin token", func(c *Config) { c.FinanceToken = c.AdminToken }, "finance_token"},
		{"relative public url", func(c *Config) { c.PublicURL = "/keys" }, "public_url"},
		{"no redis", func(c *Config) { c.Redis.Addrs = nil }, "redis.addrs"},
		{"max-age above the guarantee", func(c *Config) { c.DirectoryMaxAge = 61 * time.Second }, "directory_max_age"},
		{"no grace", func(c *Config) { c.ShutdownGrace = 0 }, "shutdown_grace"},
		{"hosted agents base with a path", func(c *Config) { c.HostedAgentsBase = "https://agents.example/x" }, "hosted_agents_base"},
		{"hosted agents base not a URL", func(c *Config) { c.HostedAgentsBase = "agents.example" }, "hosted_agents_base"},
		{"proof lifetime under the max-age", func(c *Config) { c.DirectoryProofLifetime = 10 * time.Second }, "directory_proof_lifetime"},
		{"proof lifetime over 7 days", func(c *Config) { c.DirectoryProofLifetime = 8 * 24 * time.Hour }, "directory_proof_lifetime"},
		{"empty directory key path", func(c *Config) { c.DirectoryKeyFiles = []string{""} }, "directory_key_files"},
		{"stripe url without key", func(c *Config) { c.Stripe.APIURL = "http://127.0.0.1:12111" }, "api_key"},
		{"half an evm config", func(c *Config) { c.EVM.SettlerAddress = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed" }, "both"},
		{"bad evm address", func(c *Config) {
			c.EVM = EVMConfig{SettlerAddress: "0x12", TokenAddress: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"}
		}, "settler_address"},
		{"evm without chain id", func(c *Config) {
			c.EVM = EVMConfig{SettlerAddress: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", TokenAddress: "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"}
		}, "evm.chain_id"},
		{"evm with a negative chain id", func(c *Config) {
			c.EVM = EVMConfig{SettlerAddress: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", TokenAddress: "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359", ChainID: -1}
		}, "evm.chain_id"},
		{"chain id without evm", func(c *Config) { c.EVM.ChainID = 1 }, "evm.chain_id"},
		{"bad log level", func(c *Config) { c.LogLevel = "loud" }, "log_level"},
		{"facilitator without a ledger", func(c *Config) { c.Facilitator.Enabled = true }, "facilitator.enabled"},
		{"facilitator with an unknown profile", func(c *Config) {
			c.Facilitator = FacilitatorConfig{Enabled: true, Profile: "lax"}
			c.Ledger.Addrs = []string{"127.0.0.1:6380"}
		}, "facilitator.profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	// Every problem is reported at once.
	c := good
	c.AdminToken, c.Listen = "", ""
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "admin_token") || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Validate = %v", err)
	}
}

// TestExampleConfigGolden: what configs/keydirectory.example.yaml loads to,
// defaults included, is testdata/keydirectory.example.golden.yaml.
func TestExampleConfigGolden(t *testing.T) {
	cfg, err := loadConfig([]string{"-config", "../../configs/keydirectory.example.yaml"}, env(map[string]string{"PAYCRAWL_ADMIN_TOKEN": goodToken}))
	if err != nil {
		t.Fatal(err)
	}
	golden.CompareYAML(t, "keydirectory.example.golden.yaml", cfg)
}
