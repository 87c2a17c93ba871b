package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// TestSignKeyProofSignsTheHostedDirectory: register and rotate send, with
// the registration proof, the key's own directory proof for the authority
// of the operator's hosted agent (its own origin, or the key directory's
// authority for /agents/<id>), valid a year; an agent_url that is not an
// http(s) URL is an error.
func TestSignKeyProofSignsTheHostedDirectory(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := deferred.NewKey(priv.Public().(ed25519.PublicKey))
	now := time.Now()
	for _, tt := range []struct {
		agent, authority string
	}{
		{"https://op-abcdefghijklmnop.agents.example", "op-abcdefghijklmnop.agents.example"},
		{"http://op-abcdefghijklmnop.localhost:8403", "op-abcdefghijklmnop.localhost:8403"},
		{"https://keys.example/agents/op_abcdefghijklmnop", "keys.example"},
	} {
		me := &keydir.OperatorJSON{ID: "op_abcdefghijklmnop", AgentURL: tt.agent}
		p, err := signKeyProof(priv, me, now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Verify(me.ID, now); err != nil {
			t.Fatalf("%s: registration proof: %v", tt.agent, err)
		}
		dp := p.DirectoryProof
		if dp == nil || dp.Authority != tt.authority || dp.Expires-dp.Created != int64(registry.DefaultDirectoryProofValidity/time.Second) {
			t.Fatalf("%s: directory proof %+v, want one for %s valid a year", tt.agent, dp, tt.authority)
		}
		if err := dp.Verify(key, tt.authority, now); err != nil {
			t.Fatalf("%s: directory proof: %v", tt.agent, err)
		}
	}
	if _, err := signKeyProof(priv, &keydir.OperatorJSON{ID: "op_abcdefghijklmnop", AgentURL: "op-x.example"}, now); err == nil {
		t.Fatal("an agent_url without a scheme was accepted")
	}
}
