package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/paycrawl/paycrawl/internal/config"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// opts are the flags the settlement commands share.
type opts struct {
	config string
	json   bool
	day    string
	early  bool // close only
}

// parseOpts parses a settlement command's flags; withDay requires --day.
func parseOpts(name string, args []string, e ioEnv, withDay bool) (opts, error) {
	var o opts
	fs := flag.NewFlagSet("settler "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.StringVar(&o.config, "config", "", "YAML configuration file (see configs/settler.example.yaml)")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	if withDay {
		fs.StringVar(&o.day, "day", "", "the UTC day, YYYY-MM-DD (or yesterday)")
	}
	if name == "close" {
		fs.BoolVar(&o.early, "early", false, "close the day before it ends (demos, tests): its later commitments are refused")
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if withDay {
		day, err := parseDay(o.day, time.Now())
		if err != nil {
			return o, err
		}
		o.day = day
	}
	return o, nil
}

// parseDay reads --day.
func parseDay(s string, now time.Time) (string, error) {
	switch s {
	case "":
		return "", errors.New("--day is required (YYYY-MM-DD, UTC)")
	case "yesterday":
		return ledger.Day(now.AddDate(0, 0, -1)), nil
	case "today":
		return ledger.Day(now), nil
	}
	if t, err := time.Parse("2006-01-02", s); err != nil || t.Format("2006-01-02") != s {
		return "", fmt.Errorf("--day %q: want YYYY-MM-DD", s)
	}
	return s, nil
}

// setup loads and validates the configuration, makes the logger and opens
// the app.
func setup(ctx context.Context, o opts, e ioEnv, w wiring) (*app, error) {
	cfg, err := loadConfig(o.config, e.getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	log, err := config.NewLogger(e.stderr, cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	return openApp(ctx, cfg, log, w)
}

// withApp parses a settlement command's flags, opens the app and runs fn,
// closing the app afterwards.
func withApp(ctx context.Context, name string, args []string, e ioEnv, withDay bool, w wiring, fn func(o opts, a *app) error) error {
	o, err := parseOpts(name, args, e, withDay)
	if err != nil {
		return err
	}
	a, err := setup(ctx, o, e, w)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(o, a)
}

// report prints a command's report and returns the command's error.
func report(e ioEnv, o opts, view any, human func(io.Writer), err error) error {
	if perr := emit(e.stdout, o.json, view, human); perr != nil {
		return perr
	}
	return err
}

func cmdClose(ctx context.Context, args []string, e ioEnv) error {
	return withApp(ctx, "close", args, e, true, wiring{}, func(o opts, a *app) error {
		closeDay := a.settler.Close
		if o.early {
			// Demos and tests: close a day that has not ended; the ledger
			// refuses its later commitments.
			closeDay = a.settler.CloseEarly
		}
		rep, err := closeDay(ctx, o.day)
		if rep == nil {
			return err
		}
		return report(e, o, closeView(rep), func(w io.Writer) { writeClose(w, rep) }, err)
	})
}

func cmdApprove(ctx context.Context, args []string, e ioEnv) error {
	return withApp(ctx, "approve", args, e, true, wiring{}, func(o opts, a *app) error {
		rep, err := a.settler.Approve(ctx, o.day)
		if rep == nil {
			return err
		}
		return report(e, o, approveView(rep), func(w io.Writer) { writeApprove(w, rep) }, err)
	})
}

// chargeOutput is what settler charge prints.
type chargeOutput struct {
	Approve *approveJSON `json:"approve"`
	Charge  *chargeJSON  `json:"charge"`
}

func cmdCharge(ctx context.Context, args []string, e ioEnv) error {
	return withApp(ctx, "charge", args, e, true, wiring{rails: true}, func(o opts, a *app) error {
		ap, aerr := a.settler.Approve(ctx, o.day)
		if aerr != nil && ap == nil {
			return aerr
		}
		rep, err := a.settler.Charge(ctx, o.day)
		if rep == nil {
			return errors.Join(aerr, err)
		}
		out := chargeOutput{Approve: approveView(ap), Charge: chargeView(rep)}
		return report(e, o, out, func(w io.Writer) { writeApprove(w, ap); writeCharge(w, rep) }, errors.Join(aerr, err))
	})
}

func cmdRunOnce(ctx context.Context, args []string, e ioEnv) error {
	return withApp(ctx, "run-once", args, e, false, wiring{rails: true}, func(o opts, a *app) error {
		rep, err := a.settler.RunOnce(ctx)
		if rep == nil {
			return err
		}
		return report(e, o, runView(rep), func(w io.Writer) { writeRun(w, rep) }, err)
	})
}

// logRun logs a run's summary, one line per day that did something.
func logRun(log *slog.Logger, rep *settle.RunReport, err error) {
	for _, d := range rep.Days {
		attrs := []any{"day", d.Day}
		busy := false
		if c := d.Close; c != nil && c.Created+c.Held > 0 {
			attrs = append(attrs, "invoices_created", c.Created, "held", c.Held)
			busy = true
		}
		if a := d.Approve; a != nil && a.Approved > 0 {
			attrs = append(attrs, "approved", a.Approved)
			busy = true
		}
		if c := d.Charge; c != nil && len(c.Results) > 0 {
			attrs = append(attrs, "paid", c.Count(ledger.StatusPaid), "pending", c.Count(ledger.StatusPending),
				"failed", c.Count(ledger.StatusFailed), "carried", c.Count(ledger.StatusCarried), "unknown", c.Count(ledger.StatusCharging))
			busy = true
		}
		if a := d.Archive; a != nil && len(a.Archived) > 0 {
			attrs = append(attrs, "archived", len(a.Archived), "manifest", a.Manifest)
			busy = true
		}
		if busy {
			log.Info("settler: day settled", attrs...)
		}
	}
	switch {
	case errors.Is(err, ledger.ErrLocked):
		log.Info("settler: another settler holds the lock; skipping this run")
	case err != nil:
		log.Error("settler: run finished with errors", "err", err)
	}
}
