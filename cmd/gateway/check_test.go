package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `offer_keys: ["0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]
registry: {public_url: "https://keys.example"}
sites:
  - host: news.example
    origin: http://127.0.0.1:9000
    publisher: pub
    currency: USD
    default_price: "0.01"
    crawlers:
      - {operator: op_aaaaaaaaaaaaaaaa, action: charge, price: "0.02"}
`
	var out strings.Builder
	if err := checkConfig(&out, write("good.yaml", good)); err != nil || !strings.Contains(out.String(), "OK: 1 sites, 0 price rules, 1 crawler overrides") {
		t.Fatalf("good config: %v %q", err, out.String())
	}
	bad := strings.Replace(good, `price: "0.02"`, `prcie: "0.02"`, 1)
	err := checkConfig(&out, write("bad.yaml", bad))
	if err == nil || !strings.Contains(err.Error(), `line 10`) || !strings.Contains(err.Error(), `"prcie"`) {
		t.Fatalf("typo in an override: %v", err)
	}
	// The shipped example passes.
	out.Reset()
	t.Setenv("PAYCRAWL_OFFER_KEY", strings.Repeat("ab", 32))
	if err := checkConfig(&out, filepath.Join("..", "..", "configs", "gateway.example.yaml")); err != nil {
		t.Fatalf("configs/gateway.example.yaml: %v", err)
	}
}
