package main

import (
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
