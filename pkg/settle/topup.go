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
func (s *Settler) TopUp(ctx context.Context, account, agreementID string, amount money.Micros) (*ChargeResult, error) {
	var res *ChargeResult
	err := s.locked(ctx, func(ctx context.Context, ss *session) error {
		var err error
		res, err = s.topUp(ctx, ss, account, agreementID, amount)
		return err
	})
	return res, err
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
	if inv.Status != ledger.StatusPaid || len(inv.Lines) != 1 || inv.Lines[0].Kind != ledger.LineTopUp {
		return nil
	}
	l := inv.Lines[0]
	if inv.Charged != l.Amount {
		s.log.Error("settle: TOP-UP NOT CREDITED: its charge collected another amount; needs a person",
			"invoice", id, "amount", l.Amount.String(), "charged", inv.Charged.String())
		return fmt.Errorf("settle: top-up %s charged %s of %s: not credited", id, inv.Charged, l.Amount)
	}
	_, slot, _, _ := ledger.ParseInvoiceID(id)
	topUp := "tu:" + strings.ReplaceAll(slot, "+", ":")
	bal, applied, err := s.l.CreditPrepaid(ctx, inv.Account, l.AgreementID, topUp, l.Amount)
	if err != nil {
		return fmt.Errorf("settle: credit top-up %s: %w", id, err)
	}
	if applied {
		s.log.Info("settle: prepaid top-up credited", "invoice", id, "agreement", l.AgreementID,
			"amount", l.Amount.String(), "balance", bal.String())
	}
	return nil
}
