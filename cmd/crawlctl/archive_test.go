package main

import (
	"context"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testclock"
	"github.com/paycrawl/paycrawl/internal/teststripe"
	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/stripe"
)

// TestUsageOfAnArchivedDay: a day of signed, charged fetches goes through
// close, approval and the Stripe charge (stripe-mock), then to the cold
// tier, which trims its stream from Redis; `crawlctl usage` and `crawlctl
// reconcile` (which pages through /v1/usage/commitments) then give the same
// rows, totals and matches as before the trim, read from the archive.
func TestUsageOfAnArchivedDay(t *testing.T) {
	st := startStack(t)
	st.paywall.ledger = st.ledger
	st.paywall.price = money.Amount{Currency: "USD", Value: 200_000} // 5 pages are above Stripe's minimum charge
	c := &cli{t: t, st: st}
	key := filepath.Join(t.TempDir(), "k.jwk")
	c.ok("keygen", "--out", key)
	var reg registerResult
	c.jsonOf(&reg, "register", "--name", "Archived Crawler", "--contact", "ops@crawler.example", "--rail", "stripe",
		"--daily-cap", "5.00", "--max-price", "0.50", "--key", key)
	c.env = map[string]string{"PAYCRAWL_TOKEN": reg.Token}
	now := time.Now().UTC()
	day := ledger.Day(now)
	if now.Add(5*time.Minute).Format(time.DateOnly) != day {
		t.Skip("too close to midnight UTC: the fetches could land on two days")
	}
	for i := 0; i < 5; i++ {
		c.ok("fetch", st.site.URL+"/page/"+strconv.Itoa(i), "--key", key, "--max-price", "0.50")
	}

	// The settler of that day, its clock past the day's grace, then past
	// the invoices' review window.
	cfg := settle.DefaultConfig()
	start, _ := time.Parse(time.DateOnly, day)
	clock := testclock.New(start.Add(24*time.Hour + cfg.Grace + time.Minute))
	ctx := context.Background()
	l, err := ledger.New(st.rdb, ledger.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	// stripe-mock behind the proxy that gives customers a default card.
	stripeURL, _ := teststripe.StartProxy(t)
	rail, err := stripe.New(stripe.Config{APIKey: teststripe.APIKey, BaseURL: stripeURL, Now: clock.Now, MaxNetworkRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := settle.New(settle.Options{Ledger: l, Payers: settle.RegistryPayers{Store: st.store}, Rails: []settle.Rail{rail},
		Config: cfg, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Close(ctx, day); err != nil {
		t.Fatal(err)
	}
	clock.Set(clock.Now().Add(cfg.ReviewWindow + time.Minute))
	if _, err := s.Approve(ctx, day); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Charge(ctx, day); err != nil {
		t.Fatal(err)
	}
	inv, err := l.Invoice(ctx, ledger.InvoiceID(reg.OperatorID, day, "USD"))
	if err != nil || inv.Status != ledger.StatusPaid {
		t.Fatalf("invoice %+v, %v; want it paid", inv, err)
	}

	type view struct {
		usage       keydir.UsageResponse
		human       string
		reconcile   reconcileReport
		commitments []keydir.CommitmentJSON
	}
	api := &keydir.Client{BaseURL: st.keydir.URL, Token: reg.Token}
	look := func() view {
		var v view
		c.jsonOf(&v.usage, "usage", "--day", day)
		v.human = c.ok("usage", "--day", day)
		c.jsonOf(&v.reconcile, "reconcile", "--day", day)
		if err := api.Commitments(ctx, day, func(c keydir.CommitmentJSON) error {
			v.commitments = append(v.commitments, c)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return v
	}
	hot := look()
	if len(hot.usage.Totals) != 1 || hot.usage.Totals[0] != (keydir.UsageTotal{Currency: "USD", Requests: 5, Amount: "1.00"}) ||
		len(hot.usage.Sites) != 1 || len(hot.usage.Invoices) != 1 || hot.usage.Invoices[0].Status != "paid" ||
		hot.reconcile.Commitments != 5 || hot.reconcile.Matched != 5 || len(hot.commitments) != 5 {
		t.Fatalf("before the archive: usage %+v, reconcile %+v, %d commitments", hot.usage, hot.reconcile, len(hot.commitments))
	}

	a, err := archive.New(archive.Options{Ledger: l, Store: st.archive, TempDir: t.TempDir(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := a.ArchiveDay(ctx, day)
	if err != nil || len(rep.Trimmed) != 1 || rep.Trimmed[0] != reg.OperatorID {
		t.Fatalf("ArchiveDay = %+v, %v", rep, err)
	}
	n := 0
	if err := l.Commitments(ctx, reg.OperatorID, day, func(*ledger.Commitment) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("Redis still holds %d commitments of the day, %v", n, err)
	}
	cold := look()
	if !reflect.DeepEqual(cold, hot) {
		t.Fatalf("after the archive:\n%+v\nbefore:\n%+v", cold, hot)
	}
}
