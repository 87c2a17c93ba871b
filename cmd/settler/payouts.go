package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance/client"
	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// cmdPayouts is `settler payouts run|list|show|hold|release|cancel`:
// publishers' payouts. run, list and show work on the ledger of -config
// (run under the payouts lock); hold, release and cancel are a finance
// person's decisions and go through the finance API with their token, whose
// name the payout's history records.
func cmdPayouts(ctx context.Context, args []string, e ioEnv) error {
	const usage = "usage: settler payouts run [-early] | list | show ID [-config file] [--json]\n" +
		"       settler payouts hold|release|cancel ID --reason R [--url URL] [--token T] [--json]"
	if len(args) == 0 {
		return errors.New(usage)
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "hold", "release", "cancel":
		return payoutAction(ctx, sub, args, e)
	case "run", "list", "show":
	default:
		return fmt.Errorf("unknown payouts command %q\n%s", sub, usage)
	}
	fs := flag.NewFlagSet("settler payouts "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var o opts
	var early bool
	fs.StringVar(&o.config, "config", "", "YAML configuration file (see configs/settler.example.yaml)")
	fs.BoolVar(&o.json, "json", false, "print JSON")
	fs.BoolVar(&early, "early", false, "run: pay the period in progress now (demos, tests); what it earns later waits for the next period")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	needID := sub == "show"
	if needID != (len(pos) == 1) || len(pos) > 1 {
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
	default: // show
		po, err := a.book.Payout(ctx, pos[0])
		if err != nil {
			return err
		}
		return report(e, o, po, func(w io.Writer) { printPayout(w, po) }, nil)
	}
}

// payoutAction is `settler payouts hold|release|cancel ID --reason R`,
// through the finance API.
func payoutAction(ctx context.Context, action string, args []string, e ioEnv) error {
	fs := flag.NewFlagSet("settler payouts "+action, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var api apiFlags
	var reason string
	var asJSON bool
	api.register(fs)
	fs.StringVar(&reason, "reason", "", "why; recorded in the payout's history with your token's name")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	ids, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(ids) != 1 {
		return fmt.Errorf("settler payouts %s: want one payout id", action)
	}
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("settler payouts %s: --reason is required", action)
	}
	if err := api.resolve(e); err != nil {
		return fmt.Errorf("settler payouts %s: %w", action, err)
	}
	c, err := client.New(api.url, api.token)
	if err != nil {
		return err
	}
	res, err := c.PayoutAction(ctx, ids[0], action, reason)
	if err != nil {
		return err
	}
	return emit(e.stdout, asJSON, res, func(w io.Writer) {
		fmt.Fprintln(w, res.Message)
		p := res.Payout
		fmt.Fprintf(w, "%s  %s  %s %s  %s → %s\n", p.ID, p.Status, p.Amount, p.Currency, p.Rail, p.Destination)
		for _, h := range p.History {
			historyLine(w, h.At, h.Kind, h.From, h.To, h.Actor, h.Reason)
		}
	})
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
		historyLine(w, h.At, h.Kind, h.From, h.To, h.Actor, h.Reason)
	}
}

// historyLine prints one event of a payout's history.
func historyLine(w io.Writer, at time.Time, kind, from, to, actor, reason string) {
	fmt.Fprintf(w, "  %s  %-10s %s→%s  %s  %s\n", at.Format(time.RFC3339), kind, from, to, actor, reason)
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
