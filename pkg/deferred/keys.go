package deferred

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Signature tags of the two signature profiles.
const (
	// TagWebBotAuth is the tag of a crawler's request signature.
	TagWebBotAuth = "web-bot-auth"
	// TagDirectory is the tag of a key directory's possession proof.
	TagDirectory = "http-message-signatures-directory"
)

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
		return Key{}, fmt.Errorf("deferred: Ed25519 public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
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
	if len(b) > 4096 {
		return Key{}, fmt.Errorf("deferred: JWK over 4096 bytes")
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return Key{}, fmt.Errorf("deferred: JWK is not a JSON object: %w", err)
	}
	if _, ok := probe["d"]; ok {
		return Key{}, fmt.Errorf("deferred: JWK carries a private key (\"d\"); send only the public key")
	}
	j, err := jwk.ParseKey(b)
	if err != nil {
		return Key{}, fmt.Errorf("deferred: JWK: %w", err)
	}
	return keyFromJWK(j)
}

func keyFromJWK(j jwk.Key) (Key, error) {
	okp, ok := j.(jwk.OKPPublicKey)
	if !ok || okp.Crv() != jwa.Ed25519 {
		return Key{}, fmt.Errorf("deferred: key type %s is not Ed25519", j.KeyType())
	}
	var raw any
	if err := okp.Raw(&raw); err != nil {
		return Key{}, fmt.Errorf("deferred: JWK: %w", err)
	}
	pub, ok := raw.(ed25519.PublicKey)
	if !ok {
		return Key{}, fmt.Errorf("deferred: key is not an Ed25519 public key")
	}
	return NewKey(pub)
}

// ParseJWKS reads a JWK Set and returns its usable keys: Ed25519 public keys
// meant for signing. Other keys are skipped and counted in skipped.
func ParseJWKS(b []byte) (keys []Key, skipped int, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, 0, fmt.Errorf("deferred: directory is not a JWK Set: %w", err)
	}
	for _, raw := range set.Keys {
		var meta struct {
			Use string `json:"use"`
		}
		_ = json.Unmarshal(raw, &meta)
		if meta.Use != "" && meta.Use != "sig" {
			skipped++
			continue
		}
		k, err := ParseKey(raw)
		if err != nil {
			skipped++
			continue
		}
		keys = append(keys, k)
	}
	return keys, skipped, nil
}

// ResolvedKey is a key and the billing account behind it.
type ResolvedKey struct {
	Key
	// Account is the crawler's billing account (the operator id).
	Account string
}

// KeyResolver finds the key a signature names. Implementations return an
// *Error with CodeAgentUnknown for an agent the platform has not registered,
// CodeUnknownKey for a key the agent does not publish, CodeAccountSuspended
// for a suspended operator, and CodeDirectoryUnavailable when the directory
// cannot be read and no earlier copy is known.
type KeyResolver interface {
	ResolveKey(ctx context.Context, agentURL, keyID string) (ResolvedKey, error)
}

// KeyResolverFunc adapts a function to KeyResolver.
type KeyResolverFunc func(ctx context.Context, agentURL, keyID string) (ResolvedKey, error)

// ResolveKey calls f.
func (f KeyResolverFunc) ResolveKey(ctx context.Context, agentURL, keyID string) (ResolvedKey, error) {
	return f(ctx, agentURL, keyID)
}
