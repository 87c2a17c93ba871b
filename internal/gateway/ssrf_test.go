package gateway_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testnet"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// TestExternalAgentOnLoopbackIsNotFetched: an external agent URL on the
// gateway's own loopback (registered by a key directory that allowed it,
// or before agent URLs were checked) is never connected to by a gateway
// without an allow-list. The crawler gets 503 directory_unavailable whose
// message is "directory unavailable" and nothing about the fetch (no
// address, port, status or dial error: otherwise every registered URL is a
// port probe), and the loopback server sees no TCP connection.
func TestExternalAgentOnLoopbackIsNotFetched(t *testing.T) {
	h := newHarness(t)
	c := h.newCrawler("op_ssrf", defaultTerms)
	inside, accepted := testnet.CountingTLSServer(t)
	agent := inside.URL + "/jwks.json"
	lax, err := registry.NewStore(h.store.Redis(), registry.Options{AgentBase: h.store.AgentBase(), SignupsPerMinute: -1,
		Logger: slog.New(slog.DiscardHandler), AgentHosts: registry.AgentHosts{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lax.RegisterAgent(context.Background(), c.operator, agent); err != nil {
		t.Fatal(err)
	}
	signer, err := deferred.NewSigner(c.key, agent)
	if err != nil {
		t.Fatal(err)
	}
	signer.AgentForm, signer.AgentType = deferred.AgentDictionary, string(deferred.AgentJWKS)
	// A paying request: only there (or where a site's rules name crawlers)
	// does the gateway resolve the signer's key at all.
	client := &http.Client{Transport: &deferred.Transport{Signer: signer, PreAuthorize: true,
		MaxPrice: money.Amount{Currency: "USD", Value: 50_000}}}
	status, body, _ := h.get(client, "/articles/1")
	var refusal struct{ Code, Message string }
	_ = json.Unmarshal([]byte(body), &refusal)
	if status != http.StatusServiceUnavailable || refusal.Code != string(deferred.CodeDirectoryUnavailable) || refusal.Message != deferred.MessageDirectoryUnavailable {
		t.Fatalf("got %d %s; want 503 %s with the message %q only", status, body, deferred.CodeDirectoryUnavailable, deferred.MessageDirectoryUnavailable)
	}
	_, port, _ := net.SplitHostPort(inside.Listener.Addr().String())
	if strings.Contains(body, port) || strings.Contains(body, "127.0.0.1") {
		t.Fatalf("the refusal echoes the fetch: %s", body)
	}
	time.Sleep(20 * time.Millisecond)
	if n := accepted.Load(); n != 0 {
		t.Fatalf("%d TCP connections accepted on loopback", n)
	}
	if h.hits("/articles/1") != 0 {
		t.Fatal("an unverified request reached the origin")
	}
}
