package testcrawler

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// Agree has publisher (created if it does not exist, and given the hosts
// of a's scope as the platform's admin would) offer a to crawler c, and c
// accept it with its key: the agreement is in force from its acceptance on
// (the registry rounds it up to the next second: Agree returns once that
// second has begun), and the resolver's cache of c's agreements is dropped.
// a.ID set offers the next version of that agreement. It
// returns the accepted version as stored.
func (r *Registry) Agree(t testing.TB, publisher string, c *Crawler, a agreement.Agreement) agreement.Agreement {
	t.Helper()
	ctx := context.Background()
	_, _, err := r.Store.CreatePublisher(ctx, registry.PublisherSpec{ID: publisher, Name: publisher, Contact: publisher + "@publisher.example"})
	if err != nil && !errors.Is(err, registry.ErrExists) {
		t.Fatal(err)
	}
	p, err := r.Store.Publisher(ctx, publisher)
	if err != nil {
		t.Fatal(err)
	}
	hosts := p.Hosts
	for _, s := range a.Scope {
		hosts = append(hosts, s.Host)
	}
	if _, err := r.Store.SetPublisherHosts(ctx, publisher, hosts); err != nil {
		t.Fatalf("hosts of %s: %v", publisher, err)
	}
	a.Account = c.Operator
	offered, err := r.Store.OfferAgreement(ctx, publisher, a)
	if err != nil {
		t.Fatalf("offer: %v", err)
	}
	acc, err := agreement.SignAcceptance(c.Key, offered, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	accepted, err := r.Store.AcceptAgreement(ctx, c.Operator, offered.ID, offered.Version, acc)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	// As the store's invalidation message will, without waiting for it.
	r.Resolver.Invalidate("agreements " + c.Operator)
	time.Sleep(time.Until(accepted.DecidedAt))
	return *accepted
}
