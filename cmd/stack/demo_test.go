package main

import (
	"context"
	"io"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/paycrawl/paycrawl/internal/stack"
)

// TestDemoSubscription runs the demo's subscription steps on the real
// platform (the built commands, redis-server, stripe-mock, the chain): the
// offer and the signed acceptance through the CLIs, the crawl (0 inside the
// quota, the overage price past it, each receipt naming the agreement), the
// day closed and charged, and the invoices as finance reads them (quota and
// overage lines, the prorated fee on the invoice of the first whole day in
// force). Each step checks its figures against pkg/agreement and fails on
// a difference, so a broken subscription fails this test as it fails make
// demo.
func TestDemoSubscription(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the commands and runs the platform")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st, cleanup, err := newStack(ctx, t.TempDir(), stack.Options{Fsync: "no"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	d := &demoRun{st: st, w: tabwriter.NewWriter(io.Discard, 0, 4, 2, ' ', 0), out: t.TempDir()}
	gateway := func(ctx context.Context, d *demoRun) error {
		err := st.StartGateway(ctx, "")
		d.gateways = []string{st.Gateway}
		return err
	}
	serve := func(ctx context.Context, d *demoRun) error { return d.serve(ctx) }
	for i, step := range []func(context.Context, *demoRun) error{
		startPlatform, createPublishers, gateway, offerSubscription, crawlSubscription, settleDay, serve, subscriptionInvoices,
	} {
		if err := step(ctx, d); err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
	}
	if d.sub.quotaSeen != d.sub.quota || d.sub.overage != subExtra {
		t.Fatalf("the crawl saw %d quota and %d overage requests, want %d and %d", d.sub.quotaSeen, d.sub.overage, d.sub.quota, subExtra)
	}
}
