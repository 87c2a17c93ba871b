package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// cmdPayouts is `settler payouts run|list|show|hold|release|cancel`:
// publishers' payouts, directly on the ledger under the payouts lock.
func cmdPayouts(ctx context.Context, args []string, e ioEnv) error {
	if len(args) == 0 {
		return errors.New("usage: settler payouts run [-early]|list|show ID|hold ID|release ID|cancel ID [-config file] [--json] [--actor A --reason R]")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("settler payouts "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var o opts
	var actor, reason string
	var early bool
	fs.StringVar(&o.config, "config", "", "YAML configuration file (see configs/settler.example.yaml)")
	fs.BoolVar(&o.json, "json", false, "print JSON")
	fs.StringVar(&actor, "actor", "", "who acts (hold, release, cancel)")
	fs.StringVar(&reason, "reason", "", "why (hold, release, cancel)")
	fs.BoolVar(&early, "early", false, "run: pay the period in progress now (demos, tests); what it earns later waits for the next period")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id := fs.Arg(0)
	needID := sub != "run" && sub != "list"
	if needID != (fs.NArg() == 1) || fs.NArg() > 1 {
		return fmt.Errorf("settler payouts %s: want %s", sub, map[bool]string{true: "one payout id", false: "no arguments"}[needID])
	}
	w := wiring{}
	if sub == "run" {
		w.rails = true
	}
	a, err := setup(ctx, o, e, w)
	if err != nil {
		return err
	}
	defer a.Close()
	switch sub {
	case "run":
		runPayouts := a.payouts.Run
		if early {
			runPayouts = a.payouts.RunEarly
		}
		rep, err := runPayouts(ctx)
		if rep == nil {
			return err
		}
		return report(e, o, rep, func(w io.Writer) {
			fmt.Fprintf(w, "period %s: %d created, %d paid, %d failed, %d carried over (below the minimum)\n",
				rep.Period, rep.Created, rep.Paid, rep.Failed, rep.Carried)
			for pub, why := range rep.Waiting {
				fmt.Fprintf(w, "  %s waits: %s\n", pub, why)
			}
		}, err)
	case "list":
		pos, err := a.payouts.List(ctx)
		if err != nil {
			return err
		}
		return report(e, o, pos, func(w io.Writer) { printPayouts(w, pos) }, nil)
	case "show":
		po, err := a.book.Payout(ctx, id)
		if err != nil {
			return err
		}
		return report(e, o, po, func(w io.Writer) { printPayout(w, po) }, nil)
	case "hold", "release", "cancel":
		po, err := a.payouts.Act(ctx, id, settle.PayoutAction(sub), actor, reason)
		if err != nil {
			return err
		}
		return report(e, o, po, func(w io.Writer) { printPayout(w, po) }, nil)
	}
	return fmt.Errorf("unknown payouts command %q: run, list, show, hold, release or cancel", sub)
}

func printPayouts(w io.Writer, pos []*earnings.Payout) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PAYOUT\tSTATUS\tAMOUNT\tRAIL\tDESTINATION\tREFERENCE")
	for _, p := range pos {
		fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\t%s\n", p.ID, p.Status, p.Amount, p.Currency, p.Rail, p.Destination, p.Reference)
	}
	_ = tw.Flush()
}

func printPayout(w io.Writer, p *earnings.Payout) {
	fmt.Fprintf(w, "%s  %s  %s %s  %s → %s\n", p.ID, p.Status, p.Amount, p.Currency, p.Rail, p.Destination)
	if p.Reference != "" {
		fmt.Fprintf(w, "reference %s (attempt %d)\n", p.Reference, p.Attempt)
	}
	if p.Error != "" {
		fmt.Fprintf(w, "error: %s\n", p.Error)
	}
	for _, h := range p.History {
		fmt.Fprintf(w, "  %s  %-10s %s→%s  %s  %s\n", h.At.Format(time.RFC3339), h.Kind, h.From, h.To, h.Actor, h.Reason)
	}
}

// logPayouts logs a daemon's payout run.
func logPayouts(log *slog.Logger, rep *settle.PayoutReport, err error) {
	if rep != nil && rep.Created+rep.Paid+rep.Failed > 0 {
		log.Info("settler: payouts", "period", rep.Period, "created", rep.Created, "paid", rep.Paid, "failed", rep.Failed, "carried", rep.Carried)
	}
	switch {
	case errors.Is(err, ledger.ErrLocked):
		log.Info("settler: another settler holds the payouts lock; skipping this run")
	case err != nil:
		log.Error("settler: payouts finished with errors", "err", err)
	}
}
