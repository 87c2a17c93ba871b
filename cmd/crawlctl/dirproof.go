package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// signKeyProof signs, at now, what registering priv for the operator me
// takes: the proof of possession of the registration and the key's own directory
// proof for the operator's hosted directory (the authority of me's
// agent_url), valid registry.DefaultDirectoryProofValidity, so that
// verifiers that use proven keys only (Cloudflare's) use the key.
func signKeyProof(priv ed25519.PrivateKey, me *keydir.OperatorJSON, now time.Time) (registry.Proof, error) {
	proof, err := registry.SignProof(priv, me.ID, now)
	if err != nil {
		return registry.Proof{}, err
	}
	authority, err := registry.DirectoryAuthorityOf(me.AgentURL)
	if err != nil {
		return registry.Proof{}, fmt.Errorf("the key directory reported agent_url %q: %w", me.AgentURL, err)
	}
	dp, err := registry.SignDirectoryProof(priv, authority, now, now.Add(registry.DefaultDirectoryProofValidity))
	if err != nil {
		return registry.Proof{}, err
	}
	proof.DirectoryProof = &dp
	return proof, nil
}

// renewBefore is how long before its directory proof expires register
// signs a new one for a key registered before.
const renewBefore = 30 * 24 * time.Hour

// renewDirectoryProof gives a key registered before (k, as GET /v1/keys
// lists it) the directory proof in proof when it has none (registered by
// an older client) or its own expires within renewBefore; revoked keys are
// left alone.
func renewDirectoryProof(ctx context.Context, c *keydir.Client, k keydir.KeyJSON, proof registry.Proof, now time.Time) error {
	if k.Status == string(registry.KeyRevoked) || proof.DirectoryProof == nil {
		return nil
	}
	if old := k.DirectoryProof; old != nil && old.Authority == proof.DirectoryProof.Authority && time.Unix(old.Expires, 0).Sub(now) > renewBefore {
		return nil
	}
	_, err := c.AddDirectoryProof(ctx, k.KeyID, *proof.DirectoryProof)
	return err
}
