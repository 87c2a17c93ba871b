package keys

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// TestResolverServesLastAnswerWhileRegistryDown: once the registry is
// unreachable, what the resolver read less than MaxTTL ago is still served
// (a paying crawler is not refused because one re-read timed out), and not a
// moment longer (the revocation guarantee); a TTL of MaxTTL leaves no grace,
// and an invalidation still removes an answer at once.
func TestResolverServesLastAnswerWhileRegistryDown(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name       string
		ttl        time.Duration
		invalidate string // an invalidation message received while Redis is down
		// steps move the clock on, one after the other, and ask again;
		// served says whether the answers still are.
		steps []step
	}{
		{name: "within the TTL", ttl: 10 * time.Second, steps: []step{{9 * time.Second, true}}},
		{name: "past the TTL, twice within retryAfter", ttl: 10 * time.Second, steps: []step{{11 * time.Second, true}, {retryAfter / 2, true}}},
		{name: "past the TTL, again after retryAfter", ttl: 10 * time.Second, steps: []step{{11 * time.Second, true}, {2 * retryAfter, true}}},
		{name: "up to MaxTTL and no longer", ttl: 10 * time.Second, steps: []step{{MaxTTL - time.Millisecond, true}, {time.Millisecond, false}}},
		{name: "at MaxTTL", ttl: 10 * time.Second, steps: []step{{MaxTTL, false}}},
		{name: "TTL of MaxTTL: no grace", ttl: MaxTTL, steps: []step{{MaxTTL, false}}},
		{name: "key invalidated", ttl: 10 * time.Second, invalidate: "key", steps: []step{{11 * time.Second, false}}},
		{name: "everything flushed", ttl: 10 * time.Second, invalidate: "all", steps: []step{{time.Second, false}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			op, _ := f.signUp(t)
			_, k := f.register(t, op.ID)
			if _, err := f.store.SetBilling(ctx, op.ID, registry.Billing{Rail: registry.RailStripe, DailyCap: 5_000_000, DefaultMaxPrice: 50_000}); err != nil {
				t.Fatal(err)
			}
			f.store = f.storeOn(t, &redis.Options{Addr: f.srv.Addr(), DialTimeout: 200 * time.Millisecond, DialerRetries: 1, MaxRetries: -1})
			r := f.resolver(t, func(o *ResolverOptions) { o.TTL = tc.ttl })
			agent := f.store.HostedAgentURL(op.ID)
			if _, err := r.ResolveKey(ctx, agent, k.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Account(ctx, op.ID); err != nil {
				t.Fatal(err)
			}
			f.srv.Kill()
			switch tc.invalidate {
			case "key":
				r.Invalidate("key " + k.ID)
			case "all":
				r.Flush()
			}
			var since time.Duration
			for _, st := range tc.steps {
				f.clock.Advance(st.advance)
				since += st.advance
				key, kerr := r.ResolveKey(ctx, agent, k.ID)
				_, aerr := r.Account(ctx, op.ID)
				if !st.served {
					wantDirectoryUnavailable(t, kerr)
					if tc.invalidate != "key" {
						wantDirectoryUnavailable(t, aerr)
					}
					continue
				}
				if kerr != nil || aerr != nil {
					t.Fatalf("%s after the read: key %v, account %v; want both served from the last answer", since, kerr, aerr)
				}
				if key.Key.ID != k.ID || key.Account != op.ID {
					t.Fatalf("served %+v, want key %s of %s", key, k.ID, op.ID)
				}
			}
		})
	}
}

// step is one move of the test clock and whether the last answers are
// served after it.
type step struct {
	advance time.Duration
	served  bool
}

// TestResolverGraceKeepsRefusals: a refusal read before the registry went
// down (an unknown key) is served like any other answer, never turned into
// an acceptance.
func TestResolverGraceKeepsRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	op, _ := f.signUp(t)
	f.store = f.storeOn(t, &redis.Options{Addr: f.srv.Addr(), DialTimeout: 200 * time.Millisecond, DialerRetries: 1, MaxRetries: -1})
	r := f.resolver(t, func(o *ResolverOptions) { o.TTL = 10 * time.Second })
	agent := f.store.HostedAgentURL(op.ID)
	missing := mustNewKey(t, newPriv(t))
	_, err := r.ResolveKey(ctx, agent, missing.ID)
	wantCode(t, err, deferred.CodeUnknownKey)
	f.srv.Kill()
	f.clock.Advance(20 * time.Second)
	_, err = r.ResolveKey(ctx, agent, missing.ID)
	wantCode(t, err, deferred.CodeUnknownKey)
}
