package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// settleDay writes the settler's configuration, closes today early and
// charges it (two settlers at once in cluster mode). With -keep,
// tight-budget's invoice is held before the charge, for a person to act
// on in the finance page.
func settleDay(ctx context.Context, d *demoRun) error {
	d.day = time.Now().UTC().Format(time.DateOnly)
	var err error
	if d.cfgPath, err = d.st.WriteSettlerConfig(d.chain, 0); err != nil {
		return err
	}
	fmt.Printf("day %s\n", d.day)
	if d.cluster {
		fmt.Println("two settlers run each step at the same time: the ledger's lock lets one work, the other skips")
	}
	if err := d.settlers(ctx, "close", "-config", d.cfgPath, "-day", d.day, "-early"); err != nil {
		return err
	}
	if d.keep {
		if err := d.serve(ctx); err != nil {
			return err
		}
		held := ledger.InvoiceID(d.tight.OperatorID, d.day, "USD")
		out, err := d.st.Settler(ctx, "invoices", "hold", held, "--reason", "demo: left in review for you (release or void it)")
		if err != nil {
			return err
		}
		fmt.Print(string(out))
	}
	return d.settlers(ctx, "charge", "-config", d.cfgPath, "-day", d.day)
}

// settlers runs one settler command, twice at the same time in cluster
// mode, and prints each output; the settler that finds the ledger's lock
// held skips.
func (d *demoRun) settlers(ctx context.Context, args ...string) error {
	n := 1
	if d.cluster {
		n = 2
	}
	outs, errs := make([][]byte, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = d.st.Settler(ctx, args...)
		}()
	}
	wg.Wait()
	for i := range outs {
		if n > 1 {
			fmt.Printf("-- settler %d %s:\n", i+1, args[0])
			if errs[i] != nil && strings.Contains(errs[i].Error(), "lock held") {
				fmt.Println("another settler holds the lock: skipped (it did the work)")
				continue
			}
		}
		if errs[i] != nil {
			return errs[i]
		}
		fmt.Print(string(outs[i]))
	}
	return nil
}

// serve starts settler serve (the finance API and pages) once.
func (d *demoRun) serve(ctx context.Context) error {
	if d.serving {
		return nil
	}
	if err := d.st.StartSettlerServe(ctx, d.cfgPath); err != nil {
		return err
	}
	d.serving = true
	return nil
}

// financeReview prints the day's summary and invoices through the finance
// CLI, which calls the finance API of settler serve.
func financeReview(ctx context.Context, d *demoRun) error {
	if err := d.serve(ctx); err != nil {
		return err
	}
	fmt.Printf("the finance API at %s\n", d.st.SettlerURL)
	for _, args := range [][]string{{"summary", "--day", d.day}, {"list", "--day", d.day}} {
		out, err := d.st.Settler(ctx, append([]string{"invoices"}, args...)...)
		if err != nil {
			return err
		}
		fmt.Print(string(out))
		fmt.Println()
	}
	return nil
}

// reconcile prints the chain's balances and acme-search's own view.
func reconcile(ctx context.Context, d *demoRun) error {
	for _, who := range []struct{ name, addr string }{{"chainbot's wallet", d.wallet}, {"treasury", d.chain.Treasury}} {
		if err := d.printBalance(ctx, who.name, who.addr); err != nil {
			return err
		}
	}
	out, err := d.st.Crawlctl(ctx, d.acme.Token, "usage")
	if err != nil {
		return err
	}
	fmt.Printf("\nacme-search's own view (crawlctl usage):\n%s", out)
	return nil
}

// printBalance prints the USDC balance of addr on the chain.
func (d *demoRun) printBalance(ctx context.Context, name, addr string) error {
	out, err := d.st.Settler(ctx, "devchain", "balance", "-rpc", d.chain.RPC, "-token", d.chain.Token, "-address", addr)
	if err != nil {
		return err
	}
	fmt.Printf("%-18s %s", name, out)
	return nil
}
