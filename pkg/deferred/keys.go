package deferred

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"

	"github.com/paycrawl/paycrawl/pkg/botauth"
)

// Signature tags of the two signature profiles.
const (
	// TagWebBotAuth is the tag of a crawler's request signature.
	TagWebBotAuth = "web-bot-auth"
	// TagDirectory is the tag of a key directory's possession proof.
	TagDirectory = botauth.TagDirectory
)

// Key is an Ed25519 public key with its RFC 7638 thumbprint (see
// botauth.Key).
type Key = botauth.Key

// NewKey wraps an Ed25519 public key and computes its thumbprint.
func NewKey(pub ed25519.PublicKey) (Key, error) { return botauth.NewKey(pub) }

// ParseKey reads one public JWK. Only Ed25519 (kty OKP, crv Ed25519) keys are
// accepted; a JWK that carries private material ("d") is refused, because a
// private key must never be published or sent.
func ParseKey(b []byte) (Key, error) { return botauth.ParseKey(b) }

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
