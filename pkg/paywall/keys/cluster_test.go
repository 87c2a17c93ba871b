package keys

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testclock"
	"github.com/paycrawl/paycrawl/internal/testnet"
	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// TestRunsOnRedisCluster runs every kind of registry write, and resolution with
// pub/sub invalidation, on a three-node Redis Cluster: all keys share the
// {reg} hash tag, so no script crosses slots.
func TestRunsOnRedisCluster(t *testing.T) {
	ctx := context.Background()
	cluster := testredis.StartCluster(t, 3, testredis.Options{NoAOF: true})
	clk := testclock.New(time.Unix(1_750_000_000, 0))
	s, err := registry.NewStore(cluster.Client(t), registry.Options{AgentBase: testBase, Customers: customers{}, Now: clk.Now,
		Logger: slog.New(slog.DiscardHandler), AllowHTTPLoopbackAgents: true, AgentHosts: registry.AgentHosts{DNS: testnet.DNS{}}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: s, clock: clk}
	op, token := f.signUp(t)
	if got, err := s.Authenticate(ctx, token); err != nil || got.ID != op.ID {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	if err := s.CheckSignupRate(ctx, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	_, k := f.register(t, op.ID)
	_, k2 := f.register(t, op.ID)
	if _, _, err := s.RotateKey(ctx, op.ID, f.proof(t, newPriv(t), op.ID), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetBilling(ctx, op.ID, registry.Billing{Rail: registry.RailStripe, DailyCap: 5_000_000, DefaultMaxPrice: 50_000}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RegisterAgent(ctx, op.ID, "https://signer.example"); err != nil {
		t.Fatal(err)
	}
	if ops, total, err := s.ListOperators(ctx, 0, 10); err != nil || total != 1 || len(ops) != 1 {
		t.Fatalf("ListOperators = %v, %d, %v", ops, total, err)
	}
	r, err := NewResolver(s, ResolverOptions{Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	listen(t, r)
	agent := s.HostedAgentURL(op.ID)
	if _, err := r.ResolveKey(ctx, agent, k2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeKey(ctx, op.ID, k2.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := r.ResolveKey(ctx, agent, k2.ID)
		if deferred.CodeOf(err) == deferred.CodeUnknownKey {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revocation not seen on the cluster: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := r.ResolveKey(ctx, agent, k.ID); err != nil {
		t.Fatalf("rotated key inside its overlap: %v", err)
	}
	if _, err := r.Account(ctx, op.ID); err != nil {
		t.Fatal(err)
	}
}
