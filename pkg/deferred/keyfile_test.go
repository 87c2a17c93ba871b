package deferred

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func genKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	return priv, err
}

func TestKeyFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key.jwk")
	priv, err := genKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := WriteKeyFile(path, priv, false)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	back, k2, err := ReadKeyFile(path)
	if err != nil || !back.Equal(priv) || k2.ID != k.ID {
		t.Fatalf("readKeyFile: %v", err)
	}
	// --force replaces through a temporary file and keeps 0600.
	_ = os.Chmod(path, 0o644)
	other, _ := genKey()
	if _, err := WriteKeyFile(path, other, true); err != nil {
		t.Fatal(err)
	}
	fi, _ = os.Stat(path)
	if back, _, _ := ReadKeyFile(path); !back.Equal(other) || fi.Mode().Perm() != 0o600 {
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
		if _, _, err := ReadKeyFile(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The RFC 9421 test key reads with its known thumbprint.
	p := filepath.Join(dir, "rfc.jwk")
	_ = os.WriteFile(p, []byte(`{"kty":"OKP","crv":"Ed25519","kid":"test-key-ed25519","d":"n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"}`), 0o600)
	if _, k, err := ReadKeyFile(p); err != nil || k.ID != "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U" {
		t.Fatalf("RFC key: %v %v", k.ID, err)
	}
}
