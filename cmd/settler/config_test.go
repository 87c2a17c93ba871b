package main

import (
	"github.com/paycrawl/paycrawl/internal/golden"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testKey = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := loadConfig("../../configs/settler.example.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the example config does not validate: %v", err)
	}
	def := defaultConfig()
	if cfg.Schedule != def.Schedule || cfg.Grace != def.Grace || cfg.ReviewWindow != def.ReviewWindow || cfg.MaxAttempts != 4 ||
		len(cfg.RetrySchedule) != 3 || cfg.RetrySchedule[2] != 24*time.Hour || cfg.LookbackDays != 7 || cfg.Stripe.MinimumCents != 50 ||
		cfg.EVM.Enabled() || cfg.Ledger.Prefix != "pc" || cfg.Listen != "127.0.0.1:8404" || len(cfg.Finance.Tokens) != 0 {
		t.Fatalf("the example config differs from the defaults: %+v", cfg)
	}
}

func TestConfigEnvironment(t *testing.T) {
	path := writeConfig(t, "stripe:\n  api_key: sk_file\nreview_window: 0s\n")
	secret := "a session secret from the environment, long enough"
	cfg, err := loadConfig(path, env(map[string]string{envStripeKey: "sk_env", envSettlerKey: testKey, envRedisPassword: "pw",
		envSessionSecret: secret}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Stripe.APIKey != "sk_env" || cfg.EVM.SettlerKey != testKey || cfg.Ledger.Password != "pw" || cfg.Registry.Password != "pw" ||
		cfg.ReviewWindow != 0 || cfg.Grace != 10*time.Minute || cfg.Finance.SessionSecret != secret {
		t.Fatalf("config %+v", cfg)
	}
}

func TestConfigRefusals(t *testing.T) {
	evm := "evm:\n  rpc_url: http://127.0.0.1:8545\n  settler_key: " + testKey + "\n  treasury: 0x52908400098527886E0F7030069857D2E4169EE7\n  token: 0x52908400098527886E0F7030069857D2E4169EE7\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", "gracee: 1m\n", "gracee"},
		{"not yaml", "grace: [\n", "yaml"},
		{"bad cron", "schedule:\n  cron: every day\n", "schedule.cron"},
		{"bad zone", "schedule:\n  time_zone: Mars/Olympus\n", "schedule.time_zone"},
		{"negative window", "review_window: -1h\n", "review window"},
		{"no attempts", "max_attempts: 0\n", "max attempts"},
		{"short lock", "lock_ttl: 10ms\n", "lock ttl"},
		{"stripe url without key", "stripe:\n  api_url: http://127.0.0.1:12111\n", "stripe.api_key"},
		{"no redis", "ledger:\n  addrs: []\n", "ledger.addrs"},
		{"evm without key", "evm:\n  rpc_url: http://x:1\n  treasury: 0x52908400098527886E0F7030069857D2E4169EE7\n  token: 0x52908400098527886E0F7030069857D2E4169EE7\n", "settler_key"},
		{"evm bad key", strings.Replace(evm, testKey, "nothex", 1), "settler_key: not a hex"},
		{"evm without treasury", strings.Replace(evm, "  treasury: 0x52908400098527886E0F7030069857D2E4169EE7\n", "", 1), "evm.treasury: required"},
		{"evm without token", strings.Replace(evm, "  token: 0x52908400098527886E0F7030069857D2E4169EE7\n", "", 1), "evm.token: required"},
		{"evm both", evm + "  embedded: true\n", "choose one"},
		{"evm zero confirmations", evm + "  confirmations: 0\n", "confirmations"},
		{"bad log level", "log_level: loud\n", "log_level"},
		{"bad listen", "listen: 8404\n", "listen"},
		{"finance bad role", "finance:\n  tokens:\n    - {name: alice, role: admin, token_sha256: " + strings.Repeat("ab", 32) + "}\n", "finance.tokens[0].role"},
		{"finance token in clear", "finance:\n  tokens:\n    - {name: alice, role: finance, token_sha256: fin_secret}\n", "token_sha256"},
		{"finance short secret", "finance:\n  session_secret: short\n", "finance.session_secret"},
		{"finance unknown field", "finance:\n  token: x\n", "token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(writeConfig(t, tt.yaml), env(nil))
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	cfg, err := loadConfig(writeConfig(t, evm), env(nil))
	if err != nil || cfg.Validate() != nil {
		t.Fatalf("a good evm config: %v / %v", err, cfg.Validate())
	}
	embedded := "evm:\n  embedded: true\n  settler_key: " + testKey + "\n  treasury: 0x52908400098527886E0F7030069857D2E4169EE7\n"
	if cfg, err := loadConfig(writeConfig(t, embedded), env(nil)); err != nil || cfg.Validate() != nil {
		t.Fatalf("an embedded config without token: %v / %v", err, cfg.Validate())
	}
}

func TestParseDay(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{"2026-11-20": "2026-11-20", "yesterday": "2026-11-20", "today": "2026-11-21", "": "", "2026-02-30": "", "20261120": ""} {
		got, err := parseDay(in, now)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("parseDay(%q) = %q, %v", in, got, err)
		}
	}
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "settler.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestExampleConfigGolden: what configs/settler.example.yaml loads to,
// defaults included, is testdata/settler.example.golden.yaml.
func TestExampleConfigGolden(t *testing.T) {
	cfg, err := loadConfig("../../configs/settler.example.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	golden.CompareYAML(t, "settler.example.golden.yaml", cfg)
}
