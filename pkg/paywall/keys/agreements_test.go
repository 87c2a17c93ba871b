package keys

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/redis/go-redis/v9"
)

// agree has publisher pub_news offer op a rate on news.example, and op
// accept it with priv.
func (f *fixture) agree(t *testing.T, opID string, priv []byte) agreement.Agreement {
	t.Helper()
	ctx := context.Background()
	if _, _, err := f.store.CreatePublisher(ctx, registry.PublisherSpec{ID: "pub_news", Name: "News", Contact: "ops@news.example",
		Hosts: []string{"news.example"}}); err != nil && !errors.Is(err, registry.ErrExists) {
		t.Fatal(err)
	}
	a, err := f.store.OfferAgreement(ctx, "pub_news", agreement.Agreement{Account: opID, Currency: "USD",
		Scope: []agreement.Site{{Host: "news.example"}}, ValidFrom: f.clock.Now().UTC().Truncate(time.Second),
		Terms: agreement.Terms{Kind: agreement.KindRate, Rate: &agreement.Rate{Mode: agreement.RateFixed, Price: 1_000}}})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := agreement.SignAcceptance(priv, a, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if a, err = f.store.AcceptAgreement(ctx, opID, a.ID, a.Version, acc); err != nil {
		t.Fatal(err)
	}
	return *a
}

// A gateway's view of an account's agreements: read once, served from the
// cache, dropped by an "agreements <account>" invalidation, and kept (the
// last good answer) when a refresh fails, so that no request is refused
// because the registry was slow or down.
func TestResolverAgreements(t *testing.T) {
	f := newFixture(t, nil)
	op, _ := f.signUp(t)
	priv, _ := f.register(t, op.ID)
	f.store = f.storeOn(t, &redis.Options{Addr: f.srv.Addr(), DialTimeout: 200 * time.Millisecond, DialerRetries: 1, MaxRetries: -1})
	r := f.resolver(t, nil)
	ctx := context.Background()
	got, err := r.Agreements(ctx, op.ID)
	if err != nil || len(got) != 0 {
		t.Fatalf("no agreement yet: %v, %v", got, err)
	}
	a := f.agree(t, op.ID, priv)
	if got, _ := r.Agreements(ctx, op.ID); len(got) != 0 {
		t.Fatalf("served %d versions before the invalidation: the answer is cached for the TTL", len(got))
	}
	r.Invalidate("agreements " + op.ID)
	got, err = r.Agreements(ctx, op.ID)
	if err != nil || len(got) != 1 || got[0].ID != a.ID || !got[0].Accepted() {
		t.Fatalf("after the invalidation: %+v, %v", got, err)
	}

	// The registry goes away and the entry expires: the last answer is
	// served at once, while a background re-read fails, and again after.
	f.srv.Kill()
	f.clock.Advance(2 * DefaultTTL)
	for i := 0; i < 3; i++ {
		got, err = r.Agreements(ctx, op.ID)
		if err != nil || len(got) != 1 {
			t.Fatalf("registry down, read %d: %+v, %v; want the last answer", i, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// An account never read has no last answer: directory_unavailable.
	_, err = r.Agreements(ctx, "op_unknownunknown0")
	wantDirectoryUnavailable(t, err)

	// Back up: the next expired read refreshes in the background.
	f.srv.Restart()
	f.clock.Advance(2 * DefaultTTL)
	if _, err := r.Agreements(ctx, op.ID); err != nil {
		t.Fatal(err)
	}
}

// An agreement change invalidates that account's agreements only, not
// every cached key and operator.
func TestAgreementInvalidationIsNarrow(t *testing.T) {
	f := newFixture(t, nil)
	op, _ := f.signUp(t)
	r := f.resolver(t, nil)
	ctx := context.Background()
	if _, err := r.Account(ctx, op.ID); err == nil {
		t.Fatal("an operator without billing has an account")
	}
	r.mu.Lock()
	cached := len(r.ops)
	r.mu.Unlock()
	r.Invalidate("agreements " + op.ID)
	r.mu.Lock()
	defer r.mu.Unlock()
	if cached == 0 || len(r.ops) != cached {
		t.Fatalf("operators cached %d, after an agreements invalidation %d", cached, len(r.ops))
	}
}

// TestOffersKeepTheCacheAcceptancesReachIt: a gateway listening for
// invalidations keeps its cached agreements of an account while a
// publisher offers, re-offers and withdraws (nothing in force changed),
// and sees an acceptance at once, without waiting for the TTL. Fails if an
// offer publishes "agreements <account>" (the entry is dropped), or if an
// acceptance does not (the accepted version is never served before the
// TTL).
func TestOffersKeepTheCacheAcceptancesReachIt(t *testing.T) {
	f := newFixture(t, nil)
	op, _ := f.signUp(t)
	priv, _ := f.register(t, op.ID)
	r := f.resolver(t, nil)
	listen(t, r)
	ctx := context.Background()
	if got, err := r.Agreements(ctx, op.ID); err != nil || len(got) != 0 {
		t.Fatalf("no agreement yet: %v, %v", got, err)
	}
	if _, _, err := f.store.CreatePublisher(ctx, registry.PublisherSpec{ID: "pub_news", Name: "News", Contact: "ops@news.example",
		Hosts: []string{"news.example"}}); err != nil {
		t.Fatal(err)
	}
	offer := agreement.Agreement{Account: op.ID, Currency: "USD",
		Scope: []agreement.Site{{Host: "news.example"}}, ValidFrom: f.clock.Now().UTC().Truncate(time.Second),
		Terms: agreement.Terms{Kind: agreement.KindRate, Rate: &agreement.Rate{Mode: agreement.RateFixed, Price: 1_000}}}
	var last *agreement.Agreement
	for i := 0; i < 3; i++ {
		a, err := f.store.OfferAgreement(ctx, "pub_news", offer)
		if err != nil {
			t.Fatal(err)
		}
		last = a
	}
	next := offer
	next.ID = last.ID
	last, err := f.store.OfferAgreement(ctx, "pub_news", next)
	if err != nil {
		t.Fatal(err)
	}
	// Messages arrive in order: once this one is applied, any the offers
	// sent would have been too.
	if err := f.store.Redis().Publish(ctx, registry.InvalidateChannel, "agreements op_marker").Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.agrs.mu.Lock()
		applied, gen, cached := r.agrs.gen["op_marker"] > 0, r.agrs.gen[op.ID], r.agrs.entries[op.ID] != nil
		r.agrs.mu.Unlock()
		if applied {
			if gen != 0 || !cached {
				t.Fatalf("after 4 offers the account's entry was invalidated %d times (cached: %t): offers must not empty gateways' caches", gen, cached)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the marker message never arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}

	acc, err := agreement.SignAcceptance(priv, last, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.AcceptAgreement(ctx, op.ID, last.ID, last.Version, acc); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, err := r.Agreements(ctx, op.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 && got[0].ID == last.ID && got[0].Version == 2 && got[0].Accepted() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the acceptance the gateway serves %+v; want the accepted version", got)
		}
	}
}
