package settle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// financeLockTTL is how long a finance action may hold the settler lock: it
// reads and writes one invoice, which takes milliseconds.
const financeLockTTL = 30 * time.Second

// Review says who asks for a finance action and why; both are recorded in
// the invoice's history.
type Review struct {
	// Actor is required: the finance token's name.
	Actor string
	// Reason is required to hold, void or credit; optional to release or
	// approve.
	Reason string
}

// ReviewResult is what a finance action did.
type ReviewResult struct {
	// Invoice is the invoice afterwards, with its history and attempts.
	Invoice *ledger.Invoice
	// Changed is false when the action had already taken effect (hold on a
	// held invoice, the same credit again…): nothing was written.
	Changed bool
	// Warning, if set, says what is not known yet (a refund recorded whose
	// outcome the rail could not give).
	Warning string
}

// reviewAction is one status-changing finance action.
type reviewAction struct {
	// verb names the action in errors: "hold", "release", "void", "approve".
	verb string
	// to is the target status; an invoice already there is left alone.
	to ledger.Status
	// reason reports that the action needs a reason.
	reason bool
	// check, if set, refuses an invoice the state machine would allow.
	check func(inv *ledger.Invoice) error
}

var (
	holdAction    = reviewAction{verb: "hold", to: ledger.StatusHeld, reason: true}
	releaseAction = reviewAction{verb: "release", to: ledger.StatusDraft}
	voidAction    = reviewAction{verb: "void", to: ledger.StatusVoid, reason: true}
	approveAction = reviewAction{verb: "approve", to: ledger.StatusApproved, check: checkedForApproval}
)

// Hold stops invoice id for review: a draft, approved or failed invoice
// becomes held, and the settler neither approves nor charges it until
// finance releases it. Holding a held invoice changes nothing. A reason is
// required.
//
// Every finance action (Hold, Release, Void, ApproveEarly, Credit) takes the
// settler lock, so it never interleaves with a settlement run, and carries
// the lock's fencing token. When a run holds the lock the action waits at
// most Config.LockWait and then fails with ErrBusy, changing nothing. An
// action the invoice's status forbids returns a *ledger.TransitionError
// naming that status ("invoice inv_… is paid: cannot hold"); an unknown
// invoice ledger.ErrNotFound; a missing reason or a bad argument
// ledger.ErrInvalid.
func (s *Settler) Hold(ctx context.Context, id string, r Review) (*ReviewResult, error) {
	return s.review(ctx, id, holdAction, r)
}

// Release returns a held invoice to draft: the settler approves it once its
// review window has passed (a mismatched day that finance released counts
// as reviewed). Releasing a draft changes nothing.
func (s *Settler) Release(ctx context.Context, id string, r Review) (*ReviewResult, error) {
	return s.review(ctx, id, releaseAction, r)
}

// Void cancels a draft, approved, held or failed invoice for good: it is
// never charged, and its carried-in amount returns to the crawler's
// carry-over balance. Voiding a void invoice changes nothing. A reason is
// required.
func (s *Settler) Void(ctx context.Context, id string, r Review) (*ReviewResult, error) {
	return s.review(ctx, id, voidAction, r)
}

// ApproveEarly approves a draft before its review window ends, so that the
// next run charges it. Like Approve, it approves only checked drafts: a day
// not checked yet, or a mismatch finance has not reviewed, gives
// ErrNotChecked; a held invoice must be released first. Approving an
// approved invoice changes nothing.
func (s *Settler) ApproveEarly(ctx context.Context, id string, r Review) (*ReviewResult, error) {
	return s.review(ctx, id, approveAction, r)
}

// Credit sets the credit of line (0-based, as in ledger.Invoice.Lines) of a
// draft or held invoice to amount, which lowers the total by it. The credit
// is absolute, not added to an earlier one: 0 removes it, and the same
// credit again changes nothing. A credit above the line's amount is refused
// with ledger.ErrInvalid. A reason is required.
func (s *Settler) Credit(ctx context.Context, id string, line int, amount money.Micros, r Review) (*ReviewResult, error) {
	if err := r.validate("credit a line", true); err != nil {
		return nil, err
	}
	if amount < 0 || amount > ledger.MaxAmount {
		return nil, fmt.Errorf("%w: credit %s: want 0 or more", ledger.ErrInvalid, amount)
	}
	var res *ReviewResult
	err := s.financeLocked(ctx, func(ctx context.Context, _ int64) error {
		inv, err := s.l.Invoice(ctx, id)
		if err != nil {
			return err
		}
		if inv.Status != ledger.StatusDraft && inv.Status != ledger.StatusHeld {
			return &ledger.TransitionError{Invoice: id, Current: inv.Status, Action: "credit a line"}
		}
		if line < 0 || line >= len(inv.Lines) {
			return fmt.Errorf("%w: invoice %s has %d lines, no line %d", ledger.ErrInvalid, id, len(inv.Lines), line+1)
		}
		l := inv.Lines[line]
		if amount > l.Amount {
			return fmt.Errorf("%w: a credit of %s exceeds the line's amount %s (%s %s)",
				ledger.ErrInvalid, amount, l.Amount, l.Publisher, l.Site)
		}
		if l.Credit == amount {
			res = &ReviewResult{Invoice: inv}
			return nil
		}
		if err := s.l.CreditLine(ctx, id, line, amount, r.Actor, r.Reason); err != nil {
			return err
		}
		inv, err = s.l.Invoice(ctx, id)
		res = &ReviewResult{Invoice: inv, Changed: true}
		return err
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("settle: invoice line credited", "invoice", id, "line", line, "credit", amount.String(),
		"actor", r.Actor, "changed", res.Changed)
	return res, nil
}

// review runs one status-changing finance action.
func (s *Settler) review(ctx context.Context, id string, a reviewAction, r Review) (*ReviewResult, error) {
	if err := r.validate(a.verb, a.reason); err != nil {
		return nil, err
	}
	if _, _, _, err := ledger.ParseInvoiceID(id); err != nil {
		return nil, err
	}
	var res *ReviewResult
	err := s.financeLocked(ctx, func(ctx context.Context, token int64) error {
		inv, err := s.l.Invoice(ctx, id)
		if err != nil {
			return err
		}
		if inv.Status == a.to {
			res = &ReviewResult{Invoice: inv}
			return nil
		}
		if !ledger.CanTransition(inv.Status, a.to) {
			return &ledger.TransitionError{Invoice: id, Current: inv.Status, Action: a.verb}
		}
		if a.check != nil {
			if err := a.check(inv); err != nil {
				return err
			}
		}
		err = s.l.Transition(ctx, id, ledger.Transition{To: a.to, Token: token, Actor: r.Actor, Reason: r.Reason})
		var te *ledger.TransitionError
		switch {
		case errors.As(err, &te):
			return &ledger.TransitionError{Invoice: id, Current: te.Current, Action: a.verb}
		case errors.Is(err, ledger.ErrFenced):
			// Another holder of the lock acted after ours expired.
			return fmt.Errorf("%w (%v)", ErrBusy, err)
		case err != nil:
			return err
		}
		inv, err = s.l.Invoice(ctx, id)
		res = &ReviewResult{Invoice: inv, Changed: true}
		return err
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("settle: finance action", "invoice", id, "action", a.verb, "status", res.Invoice.Status,
		"actor", r.Actor, "changed", res.Changed)
	return res, nil
}

// checkedForApproval refuses a draft Approve would not approve either.
func checkedForApproval(inv *ledger.Invoice) error {
	switch {
	case inv.Check == ledger.CheckOK:
		return nil
	case inv.Check == ledger.CheckMismatch && everHeld(inv):
		return nil // finance reviewed the mismatch and released it
	case inv.Check == ledger.CheckMismatch:
		return fmt.Errorf("%w: invoice %s: its day's aggregate does not match its commitments; hold and review it first",
			ErrNotChecked, inv.ID)
	}
	return fmt.Errorf("%w: invoice %s: its day has not been checked against its commitments yet; "+
		"the settler's close does it, try again after it", ErrNotChecked, inv.ID)
}

// validate checks the actor, and the reason when the action needs one.
func (r Review) validate(action string, needReason bool) error {
	if r.Actor == "" {
		return fmt.Errorf("%w: an actor is required to %s", ledger.ErrInvalid, action)
	}
	if needReason && r.Reason == "" {
		return fmt.Errorf("%w: a reason is required to %s", ledger.ErrInvalid, action)
	}
	return nil
}

// financeLocked runs fn under the settler lock with its fencing token. A
// lock held by someone else is waited for up to Config.LockWait (finance
// actions hold it for milliseconds), then ErrBusy.
func (s *Settler) financeLocked(ctx context.Context, fn func(ctx context.Context, token int64) error) error {
	deadline := time.Now().Add(s.cfg.LockWait)
	delay := 20 * time.Millisecond
	for {
		token, release, err := s.l.AcquireLock(ctx, LockName, financeLockTTL)
		if err == nil {
			defer release()
			// Stop well before the lock expires, like a settlement run.
			lctx, cancel := context.WithTimeout(ctx, financeLockTTL*9/10)
			defer cancel()
			return fn(lctx, token)
		}
		if !errors.Is(err, ledger.ErrLocked) {
			return err
		}
		if time.Now().Add(delay).After(deadline) {
			return ErrBusy
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}
