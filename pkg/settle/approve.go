package settle

import (
	"context"
	"errors"
	"fmt"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// ApproveReport says what Approve did with a day's drafts.
type ApproveReport struct {
	Day string
	// Approved counts drafts approved by this call; Waiting those still in
	// their review window; Unchecked drafts whose day Close has not checked
	// yet (a crash interrupted it: the next Close does it).
	Approved, Waiting, Unchecked int
}

// Approve approves the drafts of day whose review window has passed, counted
// from their creation: the history says "review window passed". Only checked
// drafts are approved: those whose aggregate matched the stream, and those
// whose mismatch finance reviewed and released (held → draft).
func (s *Settler) Approve(ctx context.Context, day string) (*ApproveReport, error) {
	var rep *ApproveReport
	err := s.locked(ctx, func(ctx context.Context, ss *session) error {
		var err error
		rep, err = s.approve(ctx, ss, day)
		return err
	})
	return rep, err
}

func (s *Settler) approve(ctx context.Context, ss *session, day string) (*ApproveReport, error) {
	if _, err := dayStart(day); err != nil {
		return nil, err
	}
	invs, err := s.l.Invoices(ctx, day)
	if err != nil {
		return nil, err
	}
	rep := &ApproveReport{Day: day}
	now := s.now()
	var errs []error
	for _, inv := range invs {
		if inv.Status != ledger.StatusDraft {
			continue
		}
		if err := ss.alive(); err != nil {
			return rep, err
		}
		switch inv.Check {
		case ledger.CheckOK:
		case ledger.CheckMismatch:
			full, err := s.l.Invoice(ctx, inv.ID)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !everHeld(full) {
				rep.Unchecked++ // the hold after the check was interrupted
				continue
			}
		default:
			rep.Unchecked++
			continue
		}
		if now.Before(inv.Created.Add(s.cfg.ReviewWindow)) {
			rep.Waiting++
			continue
		}
		err := s.l.Transition(ctx, inv.ID, ledger.Transition{To: ledger.StatusApproved, Token: ss.token,
			Actor: s.cfg.Actor, Reason: "review window passed"})
		var te *ledger.TransitionError
		switch {
		case errors.As(err, &te):
			continue // finance acted meanwhile
		case err != nil:
			if fatal(err) {
				return rep, err
			}
			errs = append(errs, fmt.Errorf("settle: approve %s: %w", inv.ID, err))
			continue
		}
		rep.Approved++
	}
	if rep.Approved > 0 {
		s.log.Info("settle: invoices approved", "day", day, "approved", rep.Approved, "waiting", rep.Waiting)
	}
	return rep, errors.Join(errs...)
}
