package keys

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testnet"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/netguard"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// TestResolverRefusesRebindingBeforeConnecting: an agent registered while its
// name resolved to a public address, which now resolves to loopback (DNS
// rebinding), is not connected to: the gateway's resolver answers
// directory_unavailable, says nothing else, and the loopback server never
// sees a TCP connection.
func TestResolverRefusesRebindingBeforeConnecting(t *testing.T) {
	ctx := context.Background()
	srv, accepted := testnet.CountingTLSServer(t)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	agent := "https://rebind.attacker.example:" + port

	f := newFixture(t, nil) // rebind.attacker.example resolves to a public address
	op, _ := f.signUp(t)
	priv, _ := f.register(t, op.ID)
	if _, err := f.store.RegisterAgent(ctx, op.ID, agent); err != nil {
		t.Fatal(err)
	}
	r := f.resolver(t, func(o *ResolverOptions) {
		o.AllowHTTPLoopback = false
		o.DNS = testnet.DNS{"rebind.attacker.example": {"127.0.0.1"}}
		o.FetchTimeout = time.Second
	})
	_, err := r.ResolveKey(ctx, agent, mustNewKey(t, priv).ID)
	wantDirectoryUnavailable(t, err)
	if !errors.Is(err, netguard.ErrNotPublic) {
		t.Fatalf("error %v does not wrap netguard.ErrNotPublic", err)
	}
	var de *deferred.Error
	if errors.As(err, &de) && (strings.Contains(de.Message, port) || strings.Contains(de.Message, "127.0.0.1")) {
		t.Fatalf("message %q echoes the fetch", de.Message)
	}
	time.Sleep(20 * time.Millisecond)
	if n := accepted.Load(); n != 0 {
		t.Fatalf("%d TCP connections accepted", n)
	}
}

// TestResolverHostedOrigin: a request naming the operator's own origin (the
// sf-string form, type directory) resolves from Redis without a fetch, as
// the older URL form does.
func TestResolverHostedOrigin(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(o *registry.Options) { o.HostedAgentsBase = "https://agents.example" })
	op, _ := f.signUp(t)
	priv, _ := f.register(t, op.ID)
	r := f.resolver(t, nil)
	id := mustNewKey(t, priv).ID
	for _, a := range []deferred.SignatureAgent{
		{URL: f.store.HostedAgentURL(op.ID)},
		{URL: f.store.HostedAgentURL(op.ID), Type: deferred.AgentDirectory},
		{URL: f.store.HostedAgentURL(op.ID) + deferred.WellKnownDirectoryPath, Type: deferred.AgentJWKS},
		{URL: f.store.LegacyHostedAgentURL(op.ID)},
	} {
		got, err := r.ResolveAgentKey(ctx, a, id)
		if err != nil || got.Account != op.ID || got.ID != id {
			t.Errorf("ResolveAgentKey(%+v) = %+v, %v", a, got, err)
		}
	}
}
