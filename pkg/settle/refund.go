package settle

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// Refunder is a rail that can give back what it collected. Rails that can
// refund implement it beside Rail.
type Refunder interface {
	// Refund gives req.Refund.Amount of req.Invoice back to the payer. It
	// returns an outcome when the result is known (done, failed) or the
	// rail is still at it (pending, with a Reference to look up). An error
	// means the outcome is unknown: the refund stays pending and Refund is
	// called again later with the same refund, and must then find, not
	// repeat, what the first call did (an idempotency key derived from the
	// invoice and the refund's sequence, a write-ahead transaction).
	Refund(ctx context.Context, req *RefundRequest) (RefundOutcome, error)
}

// RefundRequest is one call of Refunder.Refund.
type RefundRequest struct {
	// Invoice is the paid invoice, with its refunds.
	Invoice *ledger.Invoice
	// Refund is the pending refund to carry out.
	Refund ledger.Refund
	// Payer is who paid the invoice, as noted when its paid attempt
	// started: the refund goes back there.
	Payer Payer
	// Record writes a note on the pending refund (see ledger.NoteRefund),
	// fenced by the settler's token, which it fills. A note with RawTx is
	// the write-ahead record of a transaction and must be recorded before
	// it is broadcast.
	Record func(ctx context.Context, note ledger.RefundNote) error
}

// RefundOutcome is what a rail knows about a refund.
type RefundOutcome struct {
	// Status is done, failed or pending.
	Status ledger.RefundStatus
	// Reference is the rail's id: a Stripe refund id, a transaction hash.
	Reference string
	// Error says why a failed refund failed.
	Error string
	// Reason is a sentence for the invoice's history.
	Reason string
}

// refundCallTimeout bounds the rail's part of a finance refund.
const refundCallTimeout = financeLockTTL / 2

// Refund gives back amount of paid invoice id to its payer on the rail that
// charged it (0 means all that is left to refund), as finance asks with a
// reason. Under the settler lock it records the refund as pending (sequence
// NextRefund, amount reserved: refunds never exceed what was charged), calls
// the rail, and records the outcome. An outcome the rail could not learn
// leaves the refund pending; the settler's runs resume it (ResumeRefunds)
// with the same idempotency key or transaction, never a second one. The
// result's invoice shows the refund among its Refunds.
//
// A prepaid top-up (its own invoice, see TopUp) is refunded for its unspent
// credit only, all of it at once, taken back from the prepaid balance
// before the refund is recorded, so that a crawler cannot spend credit and
// then get its price back (see refundableTopUp): another amount, or all of
// it spent, is ErrTopUpSpent; a top-up under a card dispute is
// ErrTopUpDisputed. The Warning then says what was spent and not refunded.
//
// An invoice that is not paid gives a *ledger.TransitionError, an amount
// above what is left ledger.ErrRefundExceeds, a negative amount or one the
// rail cannot pay (part of a cent on Stripe) ledger.ErrInvalid, a missing
// reason ledger.ErrInvalid. Once the refund is recorded the answer is the
// result: a rail error then leaves the refund pending and is said in the
// result's Warning.
func (s *Settler) Refund(ctx context.Context, id string, amount money.Micros, r Review) (*ReviewResult, error) {
	if err := r.validate("refund", true); err != nil {
		return nil, err
	}
	if amount < 0 || amount > ledger.MaxAmount {
		return nil, fmt.Errorf("%w: refund %s: want more than 0", ledger.ErrInvalid, amount)
	}
	if _, _, _, err := ledger.ParseInvoiceID(id); err != nil {
		return nil, err
	}
	var res *ReviewResult
	var railErr error
	err := s.financeLocked(ctx, func(ctx context.Context, token int64) error {
		inv, err := s.l.Invoice(ctx, id)
		if err != nil {
			return err
		}
		if inv.Status != ledger.StatusPaid {
			return &ledger.TransitionError{Invoice: id, Current: inv.Status, Action: "refund"}
		}
		if _, ok := s.refunder(inv.Rail); !ok {
			return fmt.Errorf("%w: %q cannot refund invoice %s", ErrNoRail, inv.Rail, id)
		}
		left := inv.Refundable()
		var note string
		if tu, ok := topUpOf(inv); ok {
			// A top-up gives back only its unspent credit, taken back
			// from the balance first (see refundableTopUp).
			if left, note, err = s.refundableTopUp(ctx, inv, tu, amount); err != nil {
				return err
			}
			amount = left
		}
		if amount == 0 {
			amount = left
		}
		if amount == 0 || amount > left {
			return fmt.Errorf("%w: invoice %s: a refund of %s %s is above the %s %s left to refund",
				ledger.ErrRefundExceeds, id, amount, inv.Currency, left, inv.Currency)
		}
		if inv.Rail == "stripe" {
			if _, rest := amount.Cents(); rest != 0 {
				return fmt.Errorf("%w: refund %s %s: Stripe refunds whole cents", ledger.ErrInvalid, amount, inv.Currency)
			}
		}
		ref, _, err := s.l.BeginRefund(ctx, id, ledger.RefundRequest{Token: token, Seq: inv.NextRefund(),
			Amount: amount, Actor: r.Actor, Reason: r.Reason})
		if err != nil {
			return err
		}
		inv, err = s.l.Invoice(ctx, id)
		if err != nil {
			return err
		}
		// The rail gets half of the lock's time: a slow rail (a chain
		// awaiting confirmations) leaves the refund pending for the next
		// run, and the answer is still read and given under the lock.
		rctx, cancel := context.WithTimeout(ctx, refundCallTimeout)
		railErr = s.carryOutRefund(rctx, token, inv, ref)
		cancel()
		if inv, err = s.l.Invoice(ctx, id); err != nil {
			return err
		}
		var warnings []string
		if note != "" {
			warnings = append(warnings, note)
		}
		if railErr != nil {
			warnings = append(warnings, fmt.Sprintf("the refund is recorded but its outcome is not known yet (%v); "+
				"it stays pending and the settler's next run resumes it", railErr))
		}
		res = &ReviewResult{Invoice: inv, Changed: true, Warning: strings.Join(warnings, "; ")}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("settle: refund", "invoice", id, "amount", amount.String(), "actor", r.Actor, "err", railErr)
	if s.earn != nil && railErr == nil {
		// The refund's negative earnings; a failure here is caught up by
		// the next run (RecordDay), so it is logged, not returned.
		if _, err := s.earn.RecordInvoice(ctx, id); err != nil {
			s.log.Warn("settle: refund: earnings not recorded yet; the next run records them", "invoice", id, "err", err)
		}
	}
	return res, nil
}

// ResumeRefunds carries out the pending refunds of the invoices of day
// under the settler lock (RunOnce does it for its days): after a crash or an
// unknown outcome, with the same idempotency key or the same signed
// transaction. It returns how many it finished.
func (s *Settler) ResumeRefunds(ctx context.Context, day string) (int, error) {
	var n int
	err := s.locked(ctx, func(ctx context.Context, ss *session) error {
		var err error
		n, err = s.resumeRefunds(ctx, ss.token, day)
		return err
	})
	return n, err
}

func (s *Settler) resumeRefunds(ctx context.Context, token int64, day string) (int, error) {
	invs, err := s.l.Invoices(ctx, day)
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, inv := range invs {
		if inv.RefundPending == 0 {
			continue
		}
		full, err := s.l.Invoice(ctx, inv.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, ref := range full.Refunds {
			if ref.Status != ledger.RefundPending {
				continue
			}
			if err := s.carryOutRefund(ctx, token, full, ref); err != nil {
				errs = append(errs, err)
				if injected(err) {
					return n, errors.Join(errs...)
				}
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}

// refunder returns the rail of name if it can refund.
func (s *Settler) refunder(name string) (Refunder, bool) {
	r, ok := s.rails[name].(Refunder)
	return r, ok
}

// carryOutRefund calls the invoice's rail for pending refund ref and
// records a known outcome; a pending outcome notes its reference.
func (s *Settler) carryOutRefund(ctx context.Context, token int64, inv *ledger.Invoice, ref ledger.Refund) error {
	rail, ok := s.refunder(inv.Rail)
	if !ok {
		return fmt.Errorf("settle: refund %d of %s: %w: %q", ref.Seq, inv.ID, ErrNoRail, inv.Rail)
	}
	payer, _, err := s.startedPayer(ctx, inv, attempts(inv))
	if err != nil {
		return fmt.Errorf("settle: refund %d of %s: %w", ref.Seq, inv.ID, err)
	}
	o, err := rail.Refund(ctx, &RefundRequest{Invoice: inv, Refund: ref, Payer: payer,
		Record: func(ctx context.Context, note ledger.RefundNote) error {
			note.Token = token
			return s.l.NoteRefund(ctx, inv.ID, ref.Seq, note)
		}})
	if err != nil {
		s.log.Warn("settle: refund outcome unknown; it stays pending and the next run resumes it",
			"invoice", inv.ID, "refund", ref.Seq, "err", err)
		return fmt.Errorf("settle: refund %d of %s: %w", ref.Seq, inv.ID, err)
	}
	if err := Fault(s.faults, FaultBeforeOutcome); err != nil {
		return err
	}
	switch o.Status {
	case ledger.RefundPending:
		if o.Reference == "" {
			return nil
		}
		return s.l.NoteRefund(ctx, inv.ID, ref.Seq, ledger.RefundNote{Token: token, Reference: clip(o.Reference)})
	case ledger.RefundDone, ledger.RefundFailed:
	default:
		return fmt.Errorf("settle: rail %s answered refund status %q for %s", inv.Rail, o.Status, inv.ID)
	}
	reason := o.Reason
	if reason == "" {
		reason = string(o.Status)
	}
	err = s.l.FinishRefund(ctx, inv.ID, ref.Seq, ledger.RefundResult{Token: token, Status: o.Status,
		Reference: clip(o.Reference), Error: clip(o.Error), Actor: s.cfg.Actor, Reason: clip(reason)})
	if err != nil {
		return fmt.Errorf("settle: record refund %d of %s: %w", ref.Seq, inv.ID, err)
	}
	s.log.Info("settle: refund outcome", "invoice", inv.ID, "refund", ref.Seq, "status", o.Status,
		"reference", o.Reference, "amount", ref.Amount.String(), "error", o.Error)
	return nil
}
