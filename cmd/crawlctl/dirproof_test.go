package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
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

// TestRegisterAndRotateSendDirectoryProofs: against a real key directory
// (Redis, the API), register and rotate store each key's own directory
// proof, so a verifier that uses proven keys only (Cloudflare's rule,
// deferred.ProofRequired) finds the keys in the hosted directory; a key
// registered earlier without one (an older client) gets it when register
// is run again with it.
func TestRegisterAndRotateSendDirectoryProofs(t *testing.T) {
	ctx := context.Background()
	st := startStack(t)
	c := &cli{t: t, st: st}
	dir := t.TempDir()
	k1, k2, k3 := filepath.Join(dir, "k1.jwk"), filepath.Join(dir, "k2.jwk"), filepath.Join(dir, "k3.jwk")
	for _, k := range []string{k1, k2, k3} {
		c.ok("keygen", "--out", k)
	}
	var reg registerResult
	c.jsonOf(&reg, "register", "--name", "Proven Crawler", "--contact", "ops@proven.example", "--rail", "stripe",
		"--daily-cap", "5.00", "--max-price", "0.05", "--key", k1)
	c.env = map[string]string{"PAYCRAWL_TOKEN": reg.Token}
	authority := strings.TrimPrefix(st.keydir.URL, "http://")
	proven := func() []string {
		t.Helper()
		dc := &deferred.DirectoryClient{Allowed: func(context.Context, string) bool { return true }, AllowHTTPLoopback: true,
			Proofs: deferred.ProofRequired, Logger: slog.New(slog.DiscardHandler)}
		d, err := dc.AgentKeys(ctx, deferred.SignatureAgent{URL: reg.AgentURL, Type: deferred.AgentJWKS})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, k := range d.Keys {
			ids = append(ids, k.ID)
		}
		slices.Sort(ids)
		return ids
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	k, err := st.store.Key(ctx, reg.KeyID)
	if err != nil || k.DirectoryProof == nil || k.DirectoryProof.Authority != authority {
		t.Fatalf("registered key %+v, %v: want a directory proof for %s", k, err, authority)
	}
	if got := proven(); !slices.Equal(got, []string{reg.KeyID}) {
		t.Fatalf("proven keys %v, want %s", got, reg.KeyID)
	}

	// An older client registered k2 without a directory proof.
	priv2, key2, err := deferred.ReadKeyFile(k2)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := registry.SignProof(priv2, reg.OperatorID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.store.RegisterKey(ctx, reg.OperatorID, plain); err != nil {
		t.Fatal(err)
	}
	if got := proven(); !slices.Equal(got, []string{reg.KeyID}) {
		t.Fatalf("proven keys %v with an unproven k2", got)
	}
	var again registerResult
	c.jsonOf(&again, "register", "--key", k2)
	if got := proven(); !slices.Equal(got, sorted(reg.KeyID, key2.ID)) {
		t.Fatalf("proven keys %v after register again with k2, want both", got)
	}

	var rot keydir.RotateResponse
	c.jsonOf(&rot, "rotate", "--key", k3, "--overlap", "1h")
	if rot.Key.DirectoryProof == nil || rot.Key.DirectoryProof.Authority != authority {
		t.Fatalf("rotated in %+v without a directory proof", rot.Key)
	}
	if got := proven(); !slices.Equal(got, sorted(reg.KeyID, key2.ID, rot.Key.KeyID)) {
		t.Fatalf("proven keys %v after rotate, want all three (the old ones inside their overlap)", got)
	}
}
