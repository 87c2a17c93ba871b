package settle

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// Prepaid top-ups. A top-up is its own invoice (ledger.TopUpInvoiceID,
// dated the day it was asked for, one line of kind topup for the
// agreement's publisher), charged on the crawler's rail like any invoice,
// exactly once whatever crashes (the same attempts, idempotency keys and
// write-ahead records). Its amount is credited to the ledger's prepaid
// balance only once the charge is paid (ledger.CreditPrepaid, idempotent by
// the top-up's id), so a failed or unknown charge never buys credit. The
// requests drawn from the balance are invoiced at 0 (lines of kind
// prepaid); the publisher's earnings come from the top-up's line.

// Refunds and chargebacks of top-ups. Credit that was drawn paid for
// requests already served, so a top-up gives back only its unspent credit:
// a refund (Settler.Refund) first takes back from the balance what is left
// of the top-up (ledger.ReversePrepaid: min(its amount, the balance), once
// per top-up, whatever else was drawn or refunded) and then refunds that,
// in whole cents on Stripe; a chargeback (Disputes.Apply) takes it back
// too, no more than the dispute's amount, and what was spent before it is
// a loss the publisher's earnings bear (earnings.Book.Chargeback), logged
// for a person. A won dispute gives the credit back. Either stops the
// run's automatic top-ups of the agreement (see topUpsDue).

// ErrTopUpSpent reports a refund of a prepaid top-up that asked for
// another amount than all of the top-up's unspent credit, or one whose
// credit was all spent on requests already served. Nothing was changed.
var ErrTopUpSpent = errors.New("settle: the top-up's credit was spent")

// ErrTopUpDisputed reports a refund of a prepaid top-up whose credit a
// card dispute's chargeback holds: the card network gives the money back,
// or the dispute is won and the credit returns. Nothing was changed.
var ErrTopUpDisputed = errors.New("settle: the top-up is disputed")

// ErrNoPrepaid reports a top-up for an agreement that is not an accepted
// prepaid agreement of the account in force now.
var ErrNoPrepaid = errors.New("settle: no prepaid agreement in force")

// TopUp creates a prepaid top-up of agreement agreementID for account and
// charges it at once: amount, or the agreement's own top-up amount when
// amount is 0. It is approved without a review window (the operator asked
// for it; there is no usage to review). The result is the charge's; a
// charge whose outcome is unknown stays charging and the next run resumes
// it, and a paid one whose credit failed is credited by the next run (see
// Charge). Each call is a new top-up, with an id this settler mints.
//
// A paid top-up asked for this way resumes the run's automatic top-ups of
// the agreement if a refund or a chargeback stopped them (see topUpsDue).
func (s *Settler) TopUp(ctx context.Context, account, agreementID string, amount money.Micros) (*ChargeResult, error) {
	var res *ChargeResult
	err := s.locked(ctx, func(ctx context.Context, ss *session) error {
		stop, err := s.l.PrepaidStopped(ctx, account, agreementID)
		if err != nil {
			return err
		}
		if res, err = s.topUp(ctx, ss, account, agreementID, amount); err != nil {
			return err
		}
		return s.resumeTopUps(ctx, account, agreementID, stop, res != nil && res.Status == ledger.StatusPaid, "a top-up ordered by finance was paid")
	})
	return res, err
}

// resumeTopUps clears stop, the stop of automatic top-ups of (account,
// agreementID) read before a top-up finance asked for, once that top-up
// is paid; a refund or a chargeback recorded since keeps them stopped.
func (s *Settler) resumeTopUps(ctx context.Context, account, agreementID string, stop *ledger.PrepaidStop, paid bool, why string) error {
	if stop == nil || !paid {
		return nil
	}
	ok, err := s.l.ResumePrepaid(ctx, account, agreementID, stop.TopUp)
	if err != nil {
		return err
	}
	if ok {
		s.log.Warn("settle: automatic top-ups resumed", "account", account, "agreement", agreementID,
			"stopped by", stop.By, "top-up", stop.TopUp, "why", why)
	}
	return nil
}

// prepaidNow returns the accepted prepaid version of agreementID in force
// now among account's agreements, or ErrNoPrepaid.
func (s *Settler) prepaidNow(ctx context.Context, account, agreementID string) (*version, error) {
	if s.arr == nil {
		return nil, fmt.Errorf("%w: the settler has no agreements configured", ErrNoPrepaid)
	}
	versions, err := s.arr.Agreements(ctx, account)
	if err != nil {
		return nil, fmt.Errorf("settle: agreements of %s: %w", account, err)
	}
	now := s.now()
	for _, c := range inForce(versions, agreement.Span{}) {
		if c.ID == agreementID && c.span.Contains(now) && c.Terms.Kind == agreement.KindPrepaid && c.Terms.Prepaid != nil {
			c := c
			return &c, nil
		}
	}
	return nil, fmt.Errorf("%w: %s of %s", ErrNoPrepaid, agreementID, account)
}

func (s *Settler) topUp(ctx context.Context, ss *session, account, agreementID string, amount money.Micros) (*ChargeResult, error) {
	v, err := s.prepaidNow(ctx, account, agreementID)
	if err != nil {
		return nil, err
	}
	if err := s.checkTopUpHosts(ctx, v); err != nil {
		return nil, err
	}
	if amount, err = topUpAmount(v, amount); err != nil {
		return nil, err
	}
	tag, err := newTag()
	if err != nil {
		return nil, err
	}
	res, _, err := s.buyTopUp(ctx, ss, v, amount, tag, Review{Actor: s.cfg.Actor})
	return res, err
}

// topUpAmount is amount, or v's own top-up amount when amount is 0, once
// checked: whole cents of at least one unit, so that every rail collects
// it exactly (Stripe charges cents, above its minimum), never carries it.
func topUpAmount(v *version, amount money.Micros) (money.Micros, error) {
	if amount == 0 {
		amount = v.Terms.Prepaid.Amount
	}
	if amount < money.Scale || amount > ledger.MaxAmount || amount%10_000 != 0 {
		return 0, fmt.Errorf("%w: top-up amount %s: want whole cents of at least 1.00", ledger.ErrInvalid, amount)
	}
	return amount, nil
}

// buyTopUp creates the top-up invoice of tag for v (today's, as rv.Actor
// with rv.Reason) and charges it at once; created is false when that
// invoice already existed, which is then left to the charge runs as it is.
// amount must be checked (topUpAmount).
func (s *Settler) buyTopUp(ctx context.Context, ss *session, v *version, amount money.Micros, tag string, rv Review) (res *ChargeResult, created bool, err error) {
	reason := fmt.Sprintf("prepaid top-up of agreement %s v%d", v.ID, v.Version)
	if rv.Reason != "" {
		reason += ": " + rv.Reason
	}
	account := v.Account
	inv, created, err := s.l.CreateLinesInvoice(ctx, ledger.LinesInvoice{Account: account, Day: ledger.Day(s.now()), Tag: tag,
		Currency: v.Currency, Actor: rv.Actor, Reason: reason,
		Lines: []ledger.Line{{Publisher: v.Publisher, Amount: amount, Kind: ledger.LineTopUp,
			AgreementID: v.ID, AgreementVersion: int64(v.Version)}}})
	if err != nil || !created {
		return nil, created, err
	}
	if _, err := s.l.RecordCheck(ctx, inv.ID, ledger.Check{Token: ss.token, OK: true, Actor: s.cfg.Actor,
		Reason: "a prepaid top-up: no commitments to check"}); err != nil {
		return nil, true, err
	}
	if err := s.l.Transition(ctx, inv.ID, ledger.Transition{To: ledger.StatusApproved, Token: ss.token, Actor: s.cfg.Actor,
		Reason: "a prepaid top-up: charged at once"}); err != nil {
		return nil, true, err
	}
	if inv, err = s.l.Invoice(ctx, inv.ID); err != nil {
		return nil, true, err
	}
	res, err = s.attempt(ctx, ss, inv, "charge")
	if err != nil || res == nil || res.Status != ledger.StatusPaid {
		return res, true, err
	}
	return res, true, s.creditTopUp(ctx, inv.ID)
}

// topUpsDue buys the prepaid credit that is due (RunOnce): for each
// accepted prepaid agreement in force, its Amount when nothing was ever
// credited to it, and again whenever its balance is below its TopUpBelow;
// never while an earlier top-up of it within the look-back window is not
// final (charging, pending, or failed: a declined card is not tried again
// with a new top-up, finance sees the failed one).
//
// Nor after a refund or a chargeback of one of its top-ups took its credit
// back (ledger.PrepaidStopped): the balance that fell is no reason to
// charge the card again, least of all one that disputed a charge. The run
// logs it at Warn for finance, every run, and buys nothing until finance
// orders a top-up that is paid (TopUp, OrderTopUp) or a newer version of
// the agreement than the stopped top-up's, accepted after the refund or
// chargeback, is in force.
func (s *Settler) topUpsDue(ctx context.Context, ss *session, now time.Time) ([]ChargeResult, error) {
	if s.arr == nil {
		return nil, nil
	}
	today := agreement.Span{Start: now, End: now.Add(time.Second)}
	accounts, err := s.arr.Accounts(ctx, today, agreement.KindPrepaid)
	if err != nil || len(accounts) == 0 {
		return nil, err
	}
	open := map[[2]string]bool{} // (account, agreement) with a top-up not final
	for _, day := range append(s.lookbackDays(now), ledger.Day(now)) {
		invs, err := s.l.Invoices(ctx, day)
		if err != nil {
			return nil, err
		}
		for _, inv := range invs {
			if isTopUp(inv.ID) && !inv.Status.Final() && len(inv.Lines) == 1 {
				open[[2]string{inv.Account, inv.Lines[0].AgreementID}] = true
			}
		}
	}
	var out []ChargeResult
	var errs []error
	for _, acct := range accounts {
		versions, err := s.arr.Agreements(ctx, acct)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, v := range inForce(versions, today) {
			p := v.Terms.Prepaid
			if v.Terms.Kind != agreement.KindPrepaid || p == nil || v.Account != acct || open[[2]string{acct, v.ID}] {
				continue
			}
			stopped, err := s.topUpsStopped(ctx, v)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if stopped {
				continue
			}
			credited, err := s.l.PrepaidTopUps(ctx, acct, v.ID)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			due := len(credited) == 0
			if !due && p.TopUpBelow > 0 {
				bal, err := s.l.PrepaidBalance(ctx, acct, v.ID)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				due = bal < p.TopUpBelow
			}
			if !due {
				continue
			}
			if err := ss.alive(); err != nil {
				return out, err
			}
			res, err := s.topUp(ctx, ss, acct, v.ID, 0)
			if res != nil {
				out = append(out, *res)
			}
			if errors.Is(err, ErrHostUnclaimed) {
				s.log.Error("settle: TOP-UP NOT BOUGHT: needs finance", "account", acct, "agreement", v.ID, "err", err)
				continue
			}
			if err != nil {
				if fatal(err) {
					return out, err
				}
				errs = append(errs, fmt.Errorf("settle: top-up of %s %s: %w", acct, v.ID, err))
			}
		}
	}
	return out, errors.Join(errs...)
}

// topUpsStopped reports whether a refund or a chargeback stopped the
// automatic top-ups of v (logging it for finance), and clears a stop that
// a newer version of the agreement than the stopped top-up's, accepted
// after the stop, superseded.
func (s *Settler) topUpsStopped(ctx context.Context, v version) (bool, error) {
	stop, err := s.l.PrepaidStopped(ctx, v.Account, v.ID)
	if err != nil || stop == nil {
		return false, err
	}
	if stop.Version > 0 && int64(v.Version) > stop.Version && v.DecidedAt.After(stop.At) {
		ok, err := s.l.ResumePrepaid(ctx, v.Account, v.ID, stop.TopUp)
		if err != nil {
			return false, err
		}
		if ok {
			s.log.Warn("settle: automatic top-ups resumed", "account", v.Account, "agreement", v.ID,
				"stopped by", stop.By, "top-up", stop.TopUp, "why", fmt.Sprintf("version %d accepted after version %d's top-up", v.Version, stop.Version))
			return false, nil
		}
		return true, nil // a refund or a chargeback since: read again next run
	}
	s.log.Warn("settle: AUTOMATIC TOP-UP NOT BOUGHT: a top-up's credit was taken back; finance orders the next one",
		"account", v.Account, "agreement", v.ID, "version", v.Version, "stopped by", stop.By, "top-up", stop.TopUp)
	return true, nil
}

// tagEncoding writes top-up tags: lower-case base32 without padding.
var tagEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newTag mints a top-up's tag (80 random bits).
func newTag() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("settle: top-up id: %w", err)
	}
	return tagEncoding.EncodeToString(b[:]), nil
}

// isTopUp reports whether id is a top-up's invoice.
func isTopUp(id string) bool {
	_, slot, _, err := ledger.ParseInvoiceID(id)
	return err == nil && strings.Contains(slot, "+")
}

// creditTopUp credits a paid top-up's amount to its prepaid balance, once:
// ledger.CreditPrepaid is idempotent by the top-up id (the invoice id).
func (s *Settler) creditTopUp(ctx context.Context, id string) error {
	inv, err := s.l.Invoice(ctx, id)
	if err != nil {
		return err
	}
	tu, ok := topUpOf(inv)
	if inv.Status != ledger.StatusPaid || !ok {
		return nil
	}
	if len(inv.Refunds) > 0 {
		// Refunded (see refundableTopUp): its credit is never bought now
		// (the ledger would find it taken back and add nothing anyway).
		return nil
	}
	l := tu.line
	if inv.Charged != l.Amount {
		s.log.Error("settle: TOP-UP NOT CREDITED: its charge collected another amount; needs a person",
			"invoice", id, "amount", l.Amount.String(), "charged", inv.Charged.String())
		return fmt.Errorf("settle: top-up %s charged %s of %s: not credited", id, inv.Charged, l.Amount)
	}
	bal, applied, err := s.l.CreditPrepaid(ctx, inv.Account, l.AgreementID, tu.id, l.Amount)
	if err != nil {
		return fmt.Errorf("settle: credit top-up %s: %w", id, err)
	}
	if applied {
		s.log.Info("settle: prepaid top-up credited", "invoice", id, "agreement", l.AgreementID,
			"amount", l.Amount.String(), "balance", bal.String())
	}
	return nil
}

// topUp is the prepaid credit a top-up invoice bought: its id in the
// ledger's prepaid balance and its line.
type topUp struct {
	id   string
	line ledger.Line
}

// topUpOf returns the top-up behind inv, if inv is a top-up's invoice.
func topUpOf(inv *ledger.Invoice) (topUp, bool) {
	_, slot, _, err := ledger.ParseInvoiceID(inv.ID)
	if err != nil || !strings.Contains(slot, "+") || len(inv.Lines) != 1 || inv.Lines[0].Kind != ledger.LineTopUp {
		return topUp{}, false
	}
	return topUp{id: "tu:" + strings.ReplaceAll(slot, "+", ":"), line: inv.Lines[0]}, true
}

// refundUnit is the smallest amount a rail refunds: a cent on Stripe.
func refundUnit(rail string) money.Micros {
	if rail == "stripe" {
		return 10_000
	}
	return 1
}

// reversal names the credit of top-up tu of inv in the ledger.
func (tu topUp) reversal(inv *ledger.Invoice) ledger.PrepaidReversal {
	return ledger.PrepaidReversal{Account: inv.Account, Agreement: tu.line.AgreementID, TopUp: tu.id,
		Amount: tu.line.Amount, Unit: refundUnit(inv.Rail), Version: max(tu.line.AgreementVersion, 0)}
}

// refundableTopUp decides what a refund of top-up invoice inv gives back
// (amount 0: all it may), under the finance lock, and takes that credit
// back from the prepaid balance before the refund is recorded, so that no
// request draws it while the refund is under way.
//
// A top-up is refunded for its unspent credit, all at once: min(its
// amount, the balance) in the rail's unit (whole cents on Stripe; the rest
// below a cent stays in the balance), taken back once per top-up
// (ledger.ReversePrepaid). A refund in part of that is refused with
// ErrTopUpSpent: the credit is taken back in one step, idempotent by the
// top-up, and a part would leave the rest of the credit spendable while
// its price stays refundable, the gap this closes. amount must be 0 or
// exactly the unspent credit; all
// of it spent is ErrTopUpSpent; a top-up whose credit a dispute's
// chargeback holds is ErrTopUpDisputed; nothing is changed by a refusal.
// If requests drew on the credit between the check and the take, the
// refund is capped to what was taken, and the note says so. A refund the
// rail failed leaves the credit taken back: a refund after it gives back
// what was taken and is not refunded yet. A
// top-up never credited (its credit not written yet) is refunded whole and
// never credited afterwards (the ledger records it as credited and taken
// back). note says what the crawler spent of the top-up, for the person.
func (s *Settler) refundableTopUp(ctx context.Context, inv *ledger.Invoice, tu topUp, amount money.Micros) (money.Micros, string, error) {
	rv := tu.reversal(inv)
	left, err := s.topUpLeft(ctx, inv, tu)
	if err != nil {
		return 0, "", err
	}
	if amount != 0 && amount != left {
		return 0, "", fmt.Errorf("%w: top-up %s is refunded for its unspent credit only, all at once: %s %s of its %s %s now; ask for that (or for all that is left)",
			ErrTopUpSpent, inv.ID, left, inv.Currency, rv.Amount, inv.Currency)
	}
	taken, bal, applied, err := s.l.ReversePrepaid(ctx, rv)
	switch {
	case errors.Is(err, ledger.ErrPrepaidDisputed):
		return 0, "", fmt.Errorf("%w: top-up %s: %w", ErrTopUpDisputed, inv.ID, err)
	case err != nil:
		return 0, "", err
	case applied:
		s.log.Warn("settle: top-up credit taken back for its refund", "invoice", inv.ID, "agreement", rv.Agreement,
			"taken", taken.String(), "spent", (rv.Amount - taken).String(), "balance", bal.String())
	}
	var notes []string
	if spent := rv.Amount - taken; spent > 0 {
		notes = append(notes, fmt.Sprintf("top-up %s bought %s %s of credit; %s %s of it was spent on requests already served (or is below a cent) and is not refunded; the %s %s left was taken back from the prepaid balance",
			inv.ID, rv.Amount, inv.Currency, spent, inv.Currency, taken, inv.Currency))
	}
	got := min(taken-inv.Refunded-inv.RefundPending, inv.Refundable())
	if got <= 0 {
		return 0, "", fmt.Errorf("%w: top-up %s: requests drew all of its credit while it was refunded: nothing to refund", ErrTopUpSpent, inv.ID)
	}
	if got < left {
		notes = append(notes, fmt.Sprintf("refund capped at %s %s: requests drew on the credit while it was refunded", got, inv.Currency))
	}
	return got, strings.Join(notes, "; "), nil
}

// topUpLeft is what a refund of top-up tu of inv may give back now: its
// unspent credit (taken back already, or min(its amount, the balance) in
// the rail's unit, or all of it if never credited) less what its refunds
// took; ErrTopUpSpent when all was spent, ErrTopUpDisputed while a
// chargeback holds it, ledger.ErrRefundExceeds when it is refunded
// already. It changes nothing.
func (s *Settler) topUpLeft(ctx context.Context, inv *ledger.Invoice, tu topUp) (money.Micros, error) {
	rv := tu.reversal(inv)
	st, err := s.l.PrepaidTopUp(ctx, rv.Account, rv.Agreement, rv.TopUp)
	if err != nil {
		return 0, err
	}
	if st.HeldBy != "" {
		return 0, fmt.Errorf("%w: top-up %s is disputed (%s): its credit is the dispute's until the card network decides it",
			ErrTopUpDisputed, inv.ID, st.HeldBy)
	}
	unspent := st.Taken
	if !st.Reversed {
		unspent = rv.Amount // never credited: nothing of it was spent
		if st.Credited != 0 {
			bal, err := s.l.PrepaidBalance(ctx, rv.Account, rv.Agreement)
			if err != nil {
				return 0, err
			}
			unspent = min(rv.Amount, bal)
			unspent -= unspent % rv.Unit
		}
	}
	left := min(unspent-inv.Refunded-inv.RefundPending, inv.Refundable())
	switch {
	case unspent == 0:
		return 0, fmt.Errorf("%w: top-up %s bought %s %s of credit, all spent on requests already served: nothing to refund",
			ErrTopUpSpent, inv.ID, rv.Amount, inv.Currency)
	case left <= 0:
		return 0, fmt.Errorf("%w: top-up %s: the %s %s of its credit left unspent is refunded already",
			ledger.ErrRefundExceeds, inv.ID, unspent, inv.Currency)
	}
	return left, nil
}

// TopUpRefundable reports whether invoice id is a prepaid top-up and, if
// it is, what a refund of it would give back now (see Refund): its unspent
// credit, or why none (ErrTopUpSpent, ErrTopUpDisputed,
// ledger.ErrRefundExceeds). It reads only; requests may still draw on the
// credit until the refund takes it back.
func (s *Settler) TopUpRefundable(ctx context.Context, id string) (money.Micros, bool, error) {
	inv, err := s.l.Invoice(ctx, id)
	if err != nil {
		return 0, false, err
	}
	tu, ok := topUpOf(inv)
	if !ok {
		return 0, false, nil
	}
	if inv.Status != ledger.StatusPaid {
		return 0, true, &ledger.TransitionError{Invoice: id, Current: inv.Status, Action: "refund"}
	}
	left, err := s.topUpLeft(ctx, inv, tu)
	return left, true, err
}
