package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigAgentAllowPrefixes: agent_allow_prefixes is a list of CIDR
// prefixes; an address without its length is refused, not guessed.
func TestConfigAgentAllowPrefixes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kd.yaml")
	if err := os.WriteFile(path, []byte("agent_allow_prefixes: [127.0.0.0/8, \"::1/128\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig([]string{"-config", path}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.AgentAllowPrefixes) != 2 || cfg.AgentAllowPrefixes[0] != netip.MustParsePrefix("127.0.0.0/8") {
		t.Fatalf("agent_allow_prefixes = %v", cfg.AgentAllowPrefixes)
	}
	if err := os.WriteFile(path, []byte("agent_allow_prefixes: [10.0.0.1]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig([]string{"-config", path}, env(nil)); err == nil || !strings.Contains(err.Error(), "10.0.0.1") {
		t.Fatalf("an address without a prefix length: %v", err)
	}
}
