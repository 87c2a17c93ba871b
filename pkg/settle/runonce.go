package settle

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// DayReport is what RunOnce did with one day.
type DayReport struct {
	Day string
	// Close is nil when the day was not closable yet.
	Close   *CloseReport
	Approve *ApproveReport
	Charge  *ChargeReport
	// Refunds is how many pending refunds the run finished.
	Refunds int
	// Earnings is how many new earnings entries the day's final invoices
	// gave their publishers (Options.Earnings).
	Earnings int
	// Archive is what the cold tier did with the day (Options.Archiver);
	// ArchivedCovered what it did with the earlier days that the day's
	// final weekly or monthly invoices cover, those where it archived any.
	Archive         *archive.DayReport
	ArchivedCovered []*archive.DayReport
}

// RunReport is what RunOnce did.
type RunReport struct {
	// Started is when the run began, by the settler's clock.
	Started time.Time
	// Days lists the days of the look-back window, oldest first.
	Days []DayReport
	// Trimmed lists what retention did with the days past it; with an
	// Archiver, Archived does instead.
	Trimmed  []*ledger.TrimReport
	Archived []*archive.DayReport
	// TopUps are the prepaid top-ups the run bought (see topUpsDue).
	TopUps []ChargeResult
}

// RunOnce does one settlement run under the settler lock, for each of the
// Config.Lookback days before today (UTC), oldest first: close the day if it
// is past its grace period (creating and checking what is missing), approve
// the drafts whose review window passed, charge what is due (resume,
// reconcile, charge, retry), resume pending refunds, record what the
// day's final invoices earn their publishers (Options.Earnings), and move
// its final crawler-days to the cold tier (Options.Archiver); then buy the
// prepaid top-ups that are due (the first credit of an accepted prepaid
// agreement, another when its balance falls below its TopUpBelow). Another settler holding the lock gives
// ledger.ErrLocked at once. Errors of single crawlers or invoices do not stop
// the run; they are returned joined, with the report.
//
// Invoices of days older than the window are left alone; Charge reaches
// them by hand.
func (s *Settler) RunOnce(ctx context.Context) (*RunReport, error) {
	rep := &RunReport{Started: s.now()}
	err := s.locked(ctx, func(ctx context.Context, ss *session) error {
		var errs []error
		for _, day := range s.lookbackDays(rep.Started) {
			dr, err := s.runDay(ctx, ss, day)
			rep.Days = append(rep.Days, dr)
			if err != nil {
				errs = append(errs, err)
				if fatal(err) || ctx.Err() != nil {
					return errors.Join(errs...)
				}
			}
		}
		var err error
		rep.TopUps, err = s.topUpsDue(ctx, ss, rep.Started)
		if err != nil {
			errs = append(errs, err)
			if fatal(err) {
				return errors.Join(errs...)
			}
		}
		if s.arch != nil {
			rep.Archived, err = s.archiveRetained(ctx, rep.Started)
		} else {
			rep.Trimmed, err = s.trim(ctx, rep.Started)
		}
		if err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	return rep, err
}

// trim applies retention to the Config.Lookback days that just passed
// Config.RetentionDays (so that a missed run is caught up): their
// commitment streams go when their invoices are final.
func (s *Settler) trim(ctx context.Context, now time.Time) ([]*ledger.TrimReport, error) {
	if s.cfg.RetentionDays <= 0 {
		return nil, nil
	}
	var reps []*ledger.TrimReport
	var errs []error
	for d := s.cfg.RetentionDays + s.cfg.Lookback - 1; d >= s.cfg.RetentionDays; d-- {
		rep, err := s.l.Trim(ctx, ledger.Day(now.AddDate(0, 0, -d)))
		switch {
		case errors.Is(err, ledger.ErrRetention):
			// The ledger keeps a longer retention: nothing to do.
		case err != nil:
			errs = append(errs, err)
		case len(rep.Trimmed)+len(rep.Kept) > 0:
			reps = append(reps, rep)
		}
	}
	return reps, errors.Join(errs...)
}

// archiveRetained archives the days that just passed retention (the
// window trim would trim): what an earlier run could not archive yet is
// archived now, before its stream may go.
func (s *Settler) archiveRetained(ctx context.Context, now time.Time) ([]*archive.DayReport, error) {
	if s.cfg.RetentionDays <= 0 {
		return nil, nil
	}
	var reps []*archive.DayReport
	var errs []error
	for d := s.cfg.RetentionDays + s.cfg.Lookback - 1; d >= s.cfg.RetentionDays; d-- {
		rep, err := s.arch.ArchiveDay(ctx, ledger.Day(now.AddDate(0, 0, -d)))
		if err != nil {
			errs = append(errs, err)
		}
		if rep != nil && len(rep.Archived)+len(rep.Kept) > 0 {
			reps = append(reps, rep)
		}
	}
	return reps, errors.Join(errs...)
}

// lookbackDays are the Config.Lookback days before now's, oldest first.
func (s *Settler) lookbackDays(now time.Time) []string {
	days := make([]string, 0, s.cfg.Lookback)
	for d := s.cfg.Lookback; d >= 1; d-- {
		days = append(days, ledger.Day(now.AddDate(0, 0, -d)))
	}
	return days
}

func (s *Settler) runDay(ctx context.Context, ss *session, day string) (DayReport, error) {
	dr := DayReport{Day: day}
	var errs []error
	closable, err := s.Closable(day)
	if err != nil {
		return dr, err
	}
	if closable {
		dr.Close, err = s.close(ctx, ss, day, false)
		if err != nil {
			if fatal(err) {
				return dr, err
			}
			errs = append(errs, err)
		}
	}
	dr.Approve, err = s.approve(ctx, ss, day)
	if err != nil {
		if fatal(err) {
			return dr, err
		}
		errs = append(errs, err)
	}
	dr.Charge, err = s.charge(ctx, ss, day)
	if err != nil {
		if fatal(err) {
			return dr, err
		}
		errs = append(errs, err)
	}
	dr.Refunds, err = s.resumeRefunds(ctx, ss.token, day)
	if err != nil {
		errs = append(errs, err)
	}
	if s.earn != nil {
		rep, err := s.earn.RecordDay(ctx, day)
		dr.Earnings = rep.Entries
		if err != nil {
			errs = append(errs, fmt.Errorf("settle: earnings of %s: %w", day, err))
		}
	}
	if s.arch != nil {
		if err := ss.alive(); err != nil {
			return dr, err
		}
		dr.Archive, err = s.arch.ArchiveDay(ctx, day)
		if err != nil {
			errs = append(errs, fmt.Errorf("settle: archive %s: %w", day, err))
		}
		covered, err := s.coveredEarlier(ctx, day)
		if err != nil {
			errs = append(errs, err)
		}
		for _, d := range covered {
			if err := ss.alive(); err != nil {
				return dr, err
			}
			rep, err := s.arch.ArchiveDay(ctx, d)
			if err != nil {
				errs = append(errs, fmt.Errorf("settle: archive %s: %w", d, err))
			}
			if rep != nil && len(rep.Archived) > 0 {
				dr.ArchivedCovered = append(dr.ArchivedCovered, rep)
			}
		}
	}
	return dr, errors.Join(errs...)
}

// coveredEarlier lists, sorted, the days before day that day's final
// weekly or monthly invoices cover: the run that archives the day a period
// invoice is dated archives the period's other days too, as it does a
// daily invoice's day, rather than leave them to retention.
func (s *Settler) coveredEarlier(ctx context.Context, day string) ([]string, error) {
	invs, err := s.l.Invoices(ctx, day)
	if err != nil {
		return nil, fmt.Errorf("settle: archive %s: %w", day, err)
	}
	seen := map[string]bool{}
	var out []string
	for _, inv := range invs {
		if inv.Day != day || !inv.Status.Final() {
			continue
		}
		for _, d := range inv.Covered {
			if d < day && !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
