package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/money"
)

func TestKeyFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key.jwk")
	priv, err := generateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := writeKeyFile(path, priv, false)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	back, k2, err := readKeyFile(path)
	if err != nil || !back.Equal(priv) || k2.ID != k.ID {
		t.Fatalf("readKeyFile: %v", err)
	}
	// --force replaces through a temporary file and keeps 0600.
	_ = os.Chmod(path, 0o644)
	other, _ := generateKey()
	if _, err := writeKeyFile(path, other, true); err != nil {
		t.Fatal(err)
	}
	fi, _ = os.Stat(path)
	if back, _, _ := readKeyFile(path); !back.Equal(other) || fi.Mode().Perm() != 0o600 {
		t.Fatalf("forced write: mode %v", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	for name, content := range map[string]string{
		"not json":   "nope",
		"rsa":        `{"kty":"RSA"}`,
		"short d":    `{"kty":"OKP","crv":"Ed25519","d":"AAAA"}`,
		"x mismatch": `{"kty":"OKP","crv":"Ed25519","d":"n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		_ = os.WriteFile(p, []byte(content), 0o600)
		if _, _, err := readKeyFile(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The RFC 9421 test key reads with its known thumbprint.
	p := filepath.Join(dir, "rfc.jwk")
	_ = os.WriteFile(p, []byte(`{"kty":"OKP","crv":"Ed25519","kid":"test-key-ed25519","d":"n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"}`), 0o600)
	if _, k, err := readKeyFile(p); err != nil || k.ID != "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U" {
		t.Fatalf("RFC key: %v %v", k.ID, err)
	}
}

func TestParseMaxPrice(t *testing.T) {
	tests := []struct {
		in, cur string
		want    money.Amount
		ok      bool
	}{
		{"0.05", "USD", money.Amount{Currency: "USD", Value: 50_000}, true},
		{"USD 0.05", "ignored", money.Amount{Currency: "USD", Value: 50_000}, true},
		{"1", "USDC", money.Amount{Currency: "USDC", Value: 1_000_000}, true},
		{"0.0000001", "USD", money.Amount{}, false},
		{"-1", "USD", money.Amount{}, false},
		{"0.05", "usd", money.Amount{}, false},
		{"1e3", "USD", money.Amount{}, false},
	}
	for _, tt := range tests {
		got, err := parseMaxPrice(tt.in, tt.cur)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseMaxPrice(%q, %q) = %v, %v", tt.in, tt.cur, got, err)
		}
	}
}
