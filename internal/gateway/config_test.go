package gateway

import (
	"github.com/paycrawl/paycrawl/internal/golden"
	"strings"
	"testing"
)

const validConfig = `
offer_keys: ["` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `"]
registry: {public_url: "https://keys.example"}
publishers:
  - {id: pub, token_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
sites:
  - host: news.example
    origin: http://127.0.0.1:9000
    publisher: pub
    currency: USD
    default_price: "0.01"
`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(validConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8402" || c.AdminListen != "127.0.0.1:8412" || c.Scheme != "http" || c.Network != "paycrawl:402" {
		t.Fatalf("defaults: %+v", c)
	}
	tests := []struct{ name, edit, want string }{
		{"unknown field", "\nnope: 1\n", "field nope not found"},
		{"short offer key", strings.Replace(validConfig, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "abcd", 1), "offer_keys[0]"},
		{"no sites", strings.Split(validConfig, "sites:")[0], "no sites configured"},
		{"bad scheme", validConfig + "scheme: ftp\n", "scheme \"ftp\""},
		{"a registry prefix", strings.Replace(validConfig, `public_url: "https://keys.example"`, `public_url: "https://keys.example", prefix: x`, 1), "registry.prefix"},
		{"a ledger prefix with a brace", validConfig + "ledger: {addrs: [\"127.0.0.1:6379\"], prefix: \"a{b\"}\n", "ledger.prefix"},
		{"cache over a minute", strings.Replace(validConfig, `public_url: "https://keys.example"`, `public_url: "https://keys.example", cache_ttl: 2m`, 1), "cache_ttl over 60s"},
		{"bad publisher token", strings.Replace(validConfig, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "x", 1), "token_sha256"},
		{"bad price names its line", strings.Replace(validConfig, `default_price: "0.01"`, `default_price: "0.0.1"`, 1), "line 7"},
		{"bad duration", validConfig + "offer_ttl: soon\n", "duration \"soon\""},
		// Unknown fields are errors at every depth, naming their line: a typo
		// inside a site must not leave a price or terms silently unset.
		{"typo in a site", validConfig + "    terms_ulr: https://news.example/terms\n", `line 12: a site has no field "terms_ulr" (did you mean "terms_url"?)`},
		{"typo in a rule", validConfig + "    rules:\n      - prefix: /x/\n        prcie: \"1\"\n", `line 14: a rule has no field "prcie" (did you mean "price"?)`},
		{"typo in a crawler override", validConfig + "    crawlers:\n      - operator: op_x\n        action: charge\n        prcie: \"0.001\"\n", `line 15: a crawler override has no field "prcie" (did you mean "price"?)`},
		{"unknown nested field", strings.Replace(validConfig, `public_url: "https://keys.example"`, `public_url: "https://keys.example", chache_ttl: 1s`, 1), "chache_ttl"},
		{"unknown signature field", validConfig + "signatures: {max_valdity: 1h}\n", "max_valdity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.edit
			if tt.name == "unknown field" {
				src = validConfig + tt.edit
			}
			_, err := ParseConfig([]byte(src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(validConfig))
	f.Add([]byte("sites: [{host: x, rules: [{glob: '[', price: '1'}]}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseConfig(b)
	})
}

// TestExampleConfigGolden: configs/gateway.example.yaml loads, and what it
// loads to, defaults included, is testdata/gateway.example.golden.yaml.
func TestExampleConfigGolden(t *testing.T) {
	t.Setenv("PAYCRAWL_OFFER_KEY", strings.Repeat("ab", 32))
	cfg, err := LoadConfig("../../configs/gateway.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	golden.CompareYAML(t, "gateway.example.golden.yaml", cfg)
}
