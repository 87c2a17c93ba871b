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
