package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/paycrawl/paycrawl/internal/stack"
)

// demoStep is one step of the demo: a section of its output.
type demoStep struct {
	// title heads the step's section; "" prints none.
	title string
	run   func(ctx context.Context, d *demoRun) error
}

// demoSteps is the demo, in order (make demo). Each step is small wiring
// over internal/stack and the commands; what one step makes for the next
// (crawlers, the chain, the settler's configuration) lives in demoRun. To
// add a step, write a func(ctx, *demoRun) error and put it in the table.
var demoSteps = []demoStep{
	{"Starting the platform on loopback", startPlatform},
	{"Crawler operators register keys and billing (crawlctl)", registerCrawlers},
	{"Publishers' accounts: platform fee and payout method (key directory admin API)", createPublishers},
	{"The publisher's gateway (blocking scraper-x)", startGateway},
	{"Crawling the news site through the gateway", crawlGateway},
	{"A second site, " + stack.APIPublisher + ": a Go JSON API metered by the pkg/paywall middleware (no gateway)", crawlAPISite},
	{"A subscription: the news publisher offers news-reader a monthly plan, which it accepts (gateway agreements, crawlctl agreements)", offerSubscription},
	{"news-reader crawls under its subscription: 0 inside the quota, then the overage price", crawlSubscription},
	{"The publisher's view: usage and revenue per crawler today (gateway admin API)", publisherUsage},
	{"The settler closes today (early, for the demo) and charges it: review window 0", settleDay},
	{"Finance review: settler invoices summary and list (the finance API)", financeReview},
	{"The subscription on the invoices, as finance sees them (settler invoices show, the finance API)", subscriptionInvoices},
	{"Reconciliation", reconcile},
	{"Publishers are paid: earnings and one payout on each rail (settler payouts run -early)", payPublishers},
	{"A publisher's statement of the month", publisherStatement},
	{"", keepRunning},
}

// demoRun is the state of one run of the demo, filled by its steps.
type demoRun struct {
	st *stack.Stack
	w  *tabwriter.Writer
	// cluster and keep are the flags; out is where statements are written.
	cluster, keep bool
	out           string

	chain *stack.Chain
	// chainbot pays from wallet (key walletKey).
	walletKey, wallet              string
	acme, chainbot, tight, blocked *stack.Crawler
	// reader subscribes to the news site (sub).
	reader *stack.Crawler
	sub    *subscription
	// gateways are the proxy URLs crawlers use (two in cluster mode).
	gateways []string
	// news is paid by Stripe Connect, api on chain to the wallet of
	// apiWalletKey.
	news, api    *stack.Publisher
	apiWalletKey string
	// day is the day settled, cfgPath the settler's configuration; serving
	// says settler serve runs.
	day, cfgPath string
	serving      bool
}

// crawlers are the demo's crawler operators.
func (d *demoRun) crawlers() []*stack.Crawler {
	out := []*stack.Crawler{d.acme, d.chainbot, d.tight, d.blocked}
	if d.reader != nil {
		out = append(out, d.reader)
	}
	return out
}

// section flushes the table in progress and prints a section's title.
func (d *demoRun) section(title string) {
	d.w.Flush()
	fmt.Printf("\n== %s\n", title)
}

// demo runs the platform end to end (make demo): paying crawler operators,
// one by card and one by stablecoin, crawl two publishers' sites; the day
// is closed and settled on both rails; the publishers are paid, one by
// Stripe Connect and one on chain, and one's statement is written.
func demo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	dir := fs.String("dir", "", "working directory, kept afterwards (default: a temporary one, removed)")
	keep := fs.Bool("keep", false, "keep the platform running until Ctrl-C, to look around")
	cluster := fs.Bool("cluster", false, "distributed: Redis Cluster of 3 masters with a replica each, two gateways, two settlers")
	out := fs.String("out", "", "where the publisher's statement (HTML, CSV) is written (default: var/demo in the module)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		mod, err := stack.ModuleDir()
		if err != nil {
			return err
		}
		*out = filepath.Join(mod, "var", "demo")
	}
	st, cleanup, err := newStack(ctx, *dir, stack.Options{Fsync: "always", Cluster: *cluster})
	if err != nil {
		return err
	}
	defer cleanup()
	d := &demoRun{st: st, w: tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0), cluster: *cluster, keep: *keep, out: *out}
	for _, s := range demoSteps {
		if s.title != "" {
			d.section(s.title)
		}
		if err := s.run(ctx, d); err != nil {
			return err
		}
	}
	d.section("Stopping everything")
	return nil
}
