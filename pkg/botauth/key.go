package botauth

import (
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// MaxJWK is the largest JWK ParseKey reads, in bytes.
const MaxJWK = 4096

// Key is an Ed25519 public key with its RFC 7638 thumbprint.
type Key struct {
	// ID is the base64url SHA-256 JWK thumbprint, computed here: a published
	// "kid" is never trusted.
	ID string
	// Public is the raw public key.
	Public ed25519.PublicKey
}

// JWK returns the key as a public JWK JSON object with kid set to its ID.
func (k Key) JWK() []byte {
	x := base64.RawURLEncoding.EncodeToString(k.Public)
	if base64URL(k.ID) {
		// What json.Marshal writes for the map below (keys sorted, nothing
		// to escape), without building the map on every charged request.
		return []byte(`{"crv":"Ed25519","kid":"` + k.ID + `","kty":"OKP","x":"` + x + `"}`)
	}
	b, _ := json.Marshal(map[string]string{
		"kty": "OKP", "crv": "Ed25519",
		"x":   x,
		"kid": k.ID,
	})
	return b
}

// base64URL reports whether s is made of base64url characters only.
func base64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// NewKey wraps an Ed25519 public key and computes its thumbprint.
func NewKey(pub ed25519.PublicKey) (Key, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Key{}, fmt.Errorf("botauth: Ed25519 public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	j, err := jwk.FromRaw(pub)
	if err != nil {
		return Key{}, err
	}
	tp, err := j.Thumbprint(crypto.SHA256)
	if err != nil {
		return Key{}, err
	}
	return Key{ID: base64.RawURLEncoding.EncodeToString(tp), Public: pub}, nil
}

// ParseKey reads one public JWK. Only Ed25519 (kty OKP, crv Ed25519) keys are
// accepted; a JWK that carries private material ("d") is refused, because a
// private key must never be published or sent.
func ParseKey(b []byte) (Key, error) {
	if len(b) > MaxJWK {
		return Key{}, fmt.Errorf("botauth: JWK over %d bytes", MaxJWK)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return Key{}, fmt.Errorf("botauth: JWK is not a JSON object: %w", err)
	}
	if _, ok := probe["d"]; ok {
		return Key{}, fmt.Errorf("botauth: JWK carries a private key (\"d\"); send only the public key")
	}
	j, err := jwk.ParseKey(b)
	if err != nil {
		return Key{}, fmt.Errorf("botauth: JWK: %w", err)
	}
	okp, ok := j.(jwk.OKPPublicKey)
	if !ok || okp.Crv() != jwa.Ed25519 {
		return Key{}, fmt.Errorf("botauth: key type %s is not Ed25519", j.KeyType())
	}
	var raw any
	if err := okp.Raw(&raw); err != nil {
		return Key{}, fmt.Errorf("botauth: JWK: %w", err)
	}
	pub, ok := raw.(ed25519.PublicKey)
	if !ok {
		return Key{}, fmt.Errorf("botauth: key is not an Ed25519 public key")
	}
	return NewKey(pub)
}
