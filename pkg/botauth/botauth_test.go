package botauth

import (
	"crypto/ed25519"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	pub := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	k, err := NewKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, jwk, err string
	}{
		{"its own JWK", string(k.JWK()), ""},
		{"private material", `{"kty":"OKP","crv":"Ed25519","x":"AA","d":"AA"}`, "private key"},
		{"not an object", `[1]`, "not a JSON object"},
		{"another curve", `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`, "not Ed25519"},
		{"too big", `{"x":"` + strings.Repeat("A", MaxJWK) + `"}`, "over"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKey([]byte(tt.jwk))
			if tt.err == "" {
				if err != nil || got.ID != k.ID || !got.Public.Equal(pub) {
					t.Fatalf("ParseKey = %+v, %v; want %+v", got, err, k)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("ParseKey error = %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestNormalizeAuthority(t *testing.T) {
	for _, tt := range []struct{ hostport, scheme, want string }{
		{"Example.COM:443", "https", "example.com"},
		{"example.com:443", "http", "example.com:443"},
		{"example.com:80", "http", "example.com"},
		{"[::1]:443", "https", "[::1]"},
		{"example.com", "https", "example.com"},
	} {
		if got := NormalizeAuthority(tt.hostport, tt.scheme); got != tt.want {
			t.Errorf("NormalizeAuthority(%q, %q) = %q, want %q", tt.hostport, tt.scheme, got, tt.want)
		}
	}
}
