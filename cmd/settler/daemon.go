package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"
)

// shutdownGrace bounds how long the daemon waits for a running settlement
// when it is asked to stop; the run's context is cancelled at once, and an
// interrupted charge is resumed by the next run.
const shutdownGrace = 30 * time.Second

func cmdRun(ctx context.Context, args []string, e ioEnv) error {
	o, err := parseOpts("run", args, e, false)
	if err != nil {
		return err
	}
	a, err := setup(ctx, o, e, wiring{rails: true, embedded: true})
	if err != nil {
		return err
	}
	defer a.Close()
	if a.cfg.Listen == "" {
		return daemon(ctx, a)
	}
	// The daemon serves the finance API and page on its own listener; the
	// two stop together.
	ln, h, err := a.listen()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- a.serve(ctx, ln, h)
		cancel()
	}()
	err = daemon(ctx, a)
	cancel()
	return errors.Join(err, <-served)
}

// daemon runs a settlement now and then on the cron schedule until ctx ends.
// Overlapping runs are skipped (cron.SkipIfStillRunning); runs of other
// replicas are excluded by the ledger's lock.
func daemon(ctx context.Context, a *app) error {
	loc, err := time.LoadLocation(a.cfg.Schedule.TimeZone)
	if err != nil {
		return err
	}
	logger := cronLogger{a.log}
	c := cron.New(cron.WithLocation(loc), cron.WithLogger(logger),
		cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))
	job := cron.FuncJob(func() {
		if ctx.Err() != nil {
			return
		}
		rep, err := a.settler.RunOnce(ctx)
		logRun(a.log, rep, err)
	})
	id, err := c.AddJob(a.cfg.Schedule.Cron, job)
	if err != nil {
		return fmt.Errorf("schedule.cron %q: %w", a.cfg.Schedule.Cron, err)
	}
	if spec := a.cfg.Payouts.Cron; spec != "" && spec != "off" {
		if _, err := c.AddJob(spec, cron.FuncJob(func() {
			if ctx.Err() != nil {
				return
			}
			rep, err := a.payouts.Run(ctx)
			logPayouts(a.log, rep, err)
		})); err != nil {
			return fmt.Errorf("payouts.cron %q: %w", spec, err)
		}
	}
	a.log.Info("settler: started", "cron", a.cfg.Schedule.Cron, "payouts_cron", a.cfg.Payouts.Cron, "time_zone", loc.String(), "rails", a.settler.Rails())
	c.Start()
	// Run once now, through the scheduler's chain, so that it never
	// overlaps a scheduled run.
	first := make(chan struct{})
	go func() {
		defer close(first)
		c.Entry(id).WrappedJob.Run()
	}()
	a.log.Info("settler: next run", "at", c.Entry(id).Next)
	<-ctx.Done()
	a.log.Info("settler: stopping")
	stopped := c.Stop()
	deadline := time.After(shutdownGrace)
	select {
	case <-first:
		select {
		case <-stopped.Done():
		case <-deadline:
			a.log.Warn("settler: a run did not stop in time; its charges are resumed by the next run")
		}
	case <-deadline:
		a.log.Warn("settler: a run did not stop in time; its charges are resumed by the next run")
	}
	return nil
}

// cronLogger sends cron's logs to slog.
type cronLogger struct{ log *slog.Logger }

// Info logs cron's routine messages at debug level.
func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }

// Error logs cron's errors (a panicking job, a skipped run).
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}
