package gateway

import (
	"net/netip"
	"strings"
	"testing"
)

// TestConfigAllowPrefixes: registry.allow_prefixes is a list of CIDR
// prefixes; an address without its length is refused, not guessed.
func TestConfigAllowPrefixes(t *testing.T) {
	c, err := ParseConfig([]byte(strings.Replace(validConfig, `public_url: "https://keys.example"`,
		`public_url: "https://keys.example", allow_prefixes: [127.0.0.0/8, "::1/128"]`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}; len(c.Registry.AllowPrefixes) != 2 ||
		c.Registry.AllowPrefixes[0] != want[0] || c.Registry.AllowPrefixes[1] != want[1] {
		t.Fatalf("allow_prefixes = %v, want %v", c.Registry.AllowPrefixes, want)
	}
	if _, err := ParseConfig([]byte(strings.Replace(validConfig, `public_url: "https://keys.example"`,
		`public_url: "https://keys.example", allow_prefixes: [127.0.0.1]`, 1))); err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("an address without a prefix length: %v", err)
	}
}
