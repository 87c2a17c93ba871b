package keys

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/redis/go-redis/v9"
)

func (f *fixture) resolver(t *testing.T, mod func(*ResolverOptions)) *Resolver {
	t.Helper()
	opts := ResolverOptions{Now: f.clock.Now, Logger: slog.New(slog.DiscardHandler), AllowHTTPLoopback: true}
	if mod != nil {
		mod(&opts)
	}
	r, err := NewResolver(f.store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// listen runs r.Listen until the test ends and waits for its subscription.
func listen(t *testing.T, r *Resolver) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Listen(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	select {
	case <-r.Subscribed():
	case <-time.After(5 * time.Second):
		t.Fatal("resolver did not subscribe within 5s")
	}
}

func wantCode(t *testing.T, err error, code deferred.Code) {
	t.Helper()
	var de *deferred.Error
	if !errors.As(err, &de) || de.Code != code {
		t.Fatalf("error = %v, want deferred code %s", err, code)
	}
}

func TestResolverHostedAgent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	op, _ := f.signUp(t)
	other, _ := f.signUp(t)
	priv, k := f.register(t, op.ID)
	_, otherKey := f.register(t, other.ID)
	r := f.resolver(t, nil)
	agent := f.store.HostedAgentURL(op.ID)

	got, err := r.ResolveKey(ctx, agent, k.ID)
	if err != nil || got.ID != k.ID || got.Account != op.ID || !got.Public.Equal(priv.Public().(ed25519.PublicKey)) {
		t.Fatalf("ResolveKey = %+v, %v", got, err)
	}
	tests := []struct {
		name, agent, keyID string
		code               deferred.Code
	}{
		{"unregistered external agent", "https://crawler.example", k.ID, deferred.CodeAgentUnknown},
		{"hosted agent of no operator", testBase + "/agents/op_zzzzzzzzzzzzzzzz", k.ID, deferred.CodeAgentUnknown},
		{"key of another operator", agent, otherKey.ID, deferred.CodeUnknownKey},
		{"unregistered key", agent, "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U", deferred.CodeUnknownKey},
		{"malformed keyid", agent, "not a keyid", deferred.CodeUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.ResolveKey(ctx, tt.agent, tt.keyID)
			wantCode(t, err, tt.code)
		})
	}
}

// TestRevocationBoundWithoutPubSub: with no invalidation message at all, a
// revoked key and a suspended operator are refused once the TTL (≤ 60 s)
// has passed since the resolver read them.
func TestRevocationBoundWithoutPubSub(t *testing.T) {
	ctx := context.Background()
	for _, ttl := range []time.Duration{0, MaxTTL} {
		t.Run("ttl "+ttl.String(), func(t *testing.T) {
			f := newFixture(t, nil)
			op, _ := f.signUp(t)
			_, k := f.register(t, op.ID)
			_, k2 := f.register(t, op.ID)
			r := f.resolver(t, func(o *ResolverOptions) { o.TTL = ttl })
			agent := f.store.HostedAgentURL(op.ID)
			for _, id := range []string{k.ID, k2.ID} {
				if _, err := r.ResolveKey(ctx, agent, id); err != nil {
					t.Fatal(err)
				}
			}
			// Revoke behind the resolver's back: no Listen, so no message.
			if _, err := f.store.RevokeKey(ctx, op.ID, k.ID); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(r.TTL() - time.Second)
			if _, err := r.ResolveKey(ctx, agent, k.ID); err != nil {
				t.Fatalf("within the TTL the cached key is still served (that is the bound, not a bug): %v", err)
			}
			f.clock.Advance(time.Second)
			if r.TTL() > MaxTTL {
				t.Fatalf("TTL %s above the 60 s guarantee", r.TTL())
			}
			_, err := r.ResolveKey(ctx, agent, k.ID)
			wantCode(t, err, deferred.CodeUnknownKey)

			if _, err := f.store.SetStatus(ctx, op.ID, registry.StatusSuspended); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(r.TTL())
			_, err = r.ResolveKey(ctx, agent, k2.ID)
			wantCode(t, err, deferred.CodeAccountSuspended)
			_, err = r.Account(ctx, op.ID)
			wantCode(t, err, deferred.CodeAccountSuspended)
		})
	}
}

func TestResolverRefusesTTLAboveTheGuarantee(t *testing.T) {
	f := newFixture(t, nil)
	for _, ttl := range []time.Duration{MaxTTL + time.Nanosecond, time.Hour, -time.Second} {
		if _, err := NewResolver(f.store, ResolverOptions{TTL: ttl}); err == nil {
			t.Errorf("TTL %s accepted", ttl)
		}
	}
}

// TestRevocationThroughPubSub: with Listen running, a revocation, a
// suspension and a rotation reach the resolver at once, the clock standing
// still, through a real Redis pub/sub subscription.
func TestRevocationThroughPubSub(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	op, _ := f.signUp(t)
	_, k := f.register(t, op.ID)
	_, k2 := f.register(t, op.ID)
	r := f.resolver(t, nil)
	listen(t, r)
	agent := f.store.HostedAgentURL(op.ID)
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not seen within 2s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for _, id := range []string{k.ID, k2.ID} {
		if _, err := r.ResolveKey(ctx, agent, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.store.RevokeKey(ctx, op.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	eventually("revocation", func() bool {
		_, err := r.ResolveKey(ctx, agent, k.ID)
		return deferred.CodeOf(err) == deferred.CodeUnknownKey
	})
	if _, err := f.store.SetStatus(ctx, op.ID, registry.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	eventually("suspension", func() bool {
		_, err := r.ResolveKey(ctx, agent, k2.ID)
		return deferred.CodeOf(err) == deferred.CodeAccountSuspended
	})
	if _, err := f.store.SetStatus(ctx, op.ID, registry.StatusActive); err != nil {
		t.Fatal(err)
	}
	eventually("reinstatement", func() bool {
		_, err := r.ResolveKey(ctx, agent, k2.ID)
		return err == nil
	})
	// A rotation with no overlap ends the old key at once.
	_, _, err := f.store.RotateKey(ctx, op.ID, f.proof(t, newPriv(t), op.ID), 0)
	if err != nil {
		t.Fatal(err)
	}
	eventually("rotation", func() bool {
		_, err := r.ResolveKey(ctx, agent, k2.ID)
		return deferred.CodeOf(err) == deferred.CodeUnknownKey
	})
	// A key registered after an unknown-key miss is found at once too.
	priv := newPriv(t)
	newID := mustNewKey(t, priv).ID
	_, err = r.ResolveKey(ctx, agent, newID)
	wantCode(t, err, deferred.CodeUnknownKey)
	if _, err := f.store.RegisterKey(ctx, op.ID, f.proof(t, priv, op.ID)); err != nil {
		t.Fatal(err)
	}
	eventually("new key", func() bool {
		_, err := r.ResolveKey(ctx, agent, newID)
		return err == nil
	})
}

func TestRotatedKeyAcceptedUntilTheOverlapEnds(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	op, _ := f.signUp(t)
	_, old := f.register(t, op.ID)
	r := f.resolver(t, nil)
	agent := f.store.HostedAgentURL(op.ID)
	if _, _, err := f.store.RotateKey(ctx, op.ID, f.proof(t, newPriv(t), op.ID), time.Hour); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour - time.Second)
	if _, err := r.ResolveKey(ctx, agent, old.ID); err != nil {
		t.Fatalf("inside the overlap: %v", err)
	}
	f.clock.Advance(time.Second) // the cached record is fresh, but the overlap is over
	_, err := r.ResolveKey(ctx, agent, old.ID)
	wantCode(t, err, deferred.CodeUnknownKey)
}

func TestResolverAccount(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	op, _ := f.signUp(t)
	r := f.resolver(t, nil)
	listen(t, r)
	_, err := r.Account(ctx, op.ID)
	wantCode(t, err, deferred.CodeBillingMissing)
	_, err = r.Account(ctx, "op_zzzzzzzzzzzzzzzz")
	wantCode(t, err, deferred.CodeAgentUnknown)
	b, err := f.store.SetBilling(ctx, op.ID, registry.Billing{Rail: registry.RailStripe, DailyCap: 5_000_000, DefaultMaxPrice: 50_000})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		acct, err := r.Account(ctx, op.ID)
		if err == nil {
			if acct.OperatorID != op.ID || acct.Billing != *b || acct.Status != registry.StatusActive {
				t.Fatalf("Account = %+v", acct)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("billing profile not seen: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestResolverRedisDownIsNotARefusal: with Redis down the crawler is told
// directory_unavailable (a 503 to retry, not a refusal of its identity) and
// nothing about the failure; the cause is wrapped for the logs.
func TestResolverRedisDownIsNotARefusal(t *testing.T) {
	f := newFixture(t, nil)
	op, _ := f.signUp(t)
	_, k := f.register(t, op.ID)
	f.store = f.storeOn(t, &redis.Options{Addr: f.srv.Addr(), DialTimeout: 200 * time.Millisecond, DialerRetries: 1, MaxRetries: -1})
	r := f.resolver(t, nil)
	f.srv.Kill()
	_, err := r.ResolveKey(context.Background(), f.store.HostedAgentURL(op.ID), k.ID)
	wantDirectoryUnavailable(t, err)
	if !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("error = %v, want it to wrap ErrUnavailable", err)
	}
	_, err = r.Account(context.Background(), op.ID)
	wantDirectoryUnavailable(t, err)
}

// wantDirectoryUnavailable checks a directory_unavailable error whose
// message, which the crawler reads, is "directory unavailable" and no more.
func wantDirectoryUnavailable(t *testing.T, err error) {
	t.Helper()
	var de *deferred.Error
	if !errors.As(err, &de) || de.Code != deferred.CodeDirectoryUnavailable || de.Message != deferred.MessageDirectoryUnavailable {
		t.Fatalf("error = %v, want %s with the message %q only", err, deferred.CodeDirectoryUnavailable, deferred.MessageDirectoryUnavailable)
	}
}

// dirServer serves an external agent's JWKS and counts its fetches.
type dirServer struct {
	keys    []ed25519.PrivateKey
	fetches atomic.Int64
	srv     *httptest.Server
}

func newDirServer(t *testing.T, keys ...ed25519.PrivateKey) *dirServer {
	d := &dirServer{keys: keys}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		d.fetches.Add(1)
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		for _, k := range d.keys {
			key, _ := deferred.NewKey(k.Public().(ed25519.PublicKey))
			set.Keys = append(set.Keys, key.JWK())
		}
		w.Header().Set("Content-Type", deferred.MediaTypeDirectory)
		w.Header().Set("Cache-Control", "max-age=86400")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func TestResolverExternalAgent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(o *registry.Options) { o.AllowHTTPLoopbackAgents = true })
	op, _ := f.signUp(t)
	other, _ := f.signUp(t)
	priv := newPriv(t)
	foreign := newPriv(t) // published by the agent but registered by another operator
	if _, err := f.store.RegisterKey(ctx, other.ID, f.proof(t, foreign, other.ID)); err != nil {
		t.Fatal(err)
	}
	third := newPriv(t) // published by the agent, registered nowhere
	d := newDirServer(t, priv, foreign, third)
	agent := d.srv.URL + "/jwks.json"
	jwks := deferred.SignatureAgent{URL: agent, Type: deferred.AgentJWKS}
	r := f.resolver(t, nil)

	_, err := r.ResolveAgentKey(ctx, jwks, mustNewKey(t, priv).ID)
	wantCode(t, err, deferred.CodeAgentUnknown)
	if d.fetches.Load() != 0 {
		t.Fatal("an unregistered agent URL was fetched")
	}
	if _, err := f.store.RegisterAgent(ctx, op.ID, agent); err != nil {
		t.Fatal(err)
	}
	r.Flush()
	got, err := r.ResolveAgentKey(ctx, jwks, mustNewKey(t, priv).ID)
	if err != nil || got.Account != op.ID || got.ID != mustNewKey(t, priv).ID {
		t.Fatalf("ResolveKey = %+v, %v", got, err)
	}
	// Without type=jwks_uri the URL is a directory origin, which it is not:
	// refused, never guessed from its path.
	_, err = r.ResolveKey(ctx, agent, mustNewKey(t, priv).ID)
	wantCode(t, err, deferred.CodeAgentMalformed)
	_, err = r.ResolveAgentKey(ctx, jwks, mustNewKey(t, foreign).ID)
	wantCode(t, err, deferred.CodeUnknownKey)
	// A key the operator registered and revoked here is refused even while
	// its own directory still publishes it.
	if _, err := f.store.RegisterKey(ctx, op.ID, f.proof(t, priv, op.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.RevokeKey(ctx, op.ID, mustNewKey(t, priv).ID); err != nil {
		t.Fatal(err)
	}
	r.Invalidate("key " + mustNewKey(t, priv).ID)
	_, err = r.ResolveAgentKey(ctx, jwks, mustNewKey(t, priv).ID)
	wantCode(t, err, deferred.CodeUnknownKey)
	// The directory's 24 h max-age is clamped to the resolver's TTL.
	before := d.fetches.Load()
	f.clock.Advance(r.TTL())
	if _, err := r.ResolveAgentKey(ctx, jwks, mustNewKey(t, third).ID); err != nil {
		t.Fatal(err)
	}
	if d.fetches.Load() == before {
		t.Fatal("the external directory was cached beyond the resolver's TTL")
	}
}

// TestVerifierWithResolver: a request signed with a registered key under the
// hosted agent URL verifies through the resolver; once the key is revoked it
// is refused; with Redis down it is directory_unavailable, not a refusal.
func TestVerifierWithResolver(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	op, _ := f.signUp(t)
	priv, _ := f.register(t, op.ID)
	r := f.resolver(t, nil)
	listen(t, r)
	signer, err := deferred.NewSigner(priv, f.store.HostedAgentURL(op.ID))
	if err != nil {
		t.Fatal(err)
	}
	v := &deferred.Verifier{Keys: r}
	verify := func() (*deferred.Verdict, error) {
		req := httptest.NewRequest(http.MethodGet, "https://publisher.example/article", nil)
		if err := signer.Sign(req); err != nil {
			t.Fatal(err)
		}
		return v.Verify(ctx, req, "https", nil)
	}
	verdict, err := verify()
	if err != nil || verdict.Key.Account != op.ID {
		t.Fatalf("Verify = %+v, %v", verdict, err)
	}
	if _, err := f.store.RevokeKey(ctx, op.ID, signer.KeyID()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, err := verify()
		if deferred.CodeOf(err) == deferred.CodeUnknownKey {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked key still verifies: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.Flush()
	f.srv.Kill()
	_, err = verify()
	if deferred.CodeOf(err) != deferred.CodeDirectoryUnavailable {
		t.Fatalf("with Redis down: %v, want %s", err, deferred.CodeDirectoryUnavailable)
	}
}
