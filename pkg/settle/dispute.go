package settle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// ErrNotOurs reports a payment paycrawl did not make (a dispute of another
// charge on the same Stripe account): nothing to record.
var ErrNotOurs = errors.New("settle: not a paycrawl charge")

// IntentInvoices finds the invoice a Stripe PaymentIntent charged (the
// stripe rail, by the PaymentIntent's metadata).
type IntentInvoices interface {
	InvoiceOfIntent(ctx context.Context, paymentIntent string) (string, error)
}

// DisputeAction is what a dispute's news does to earnings.
type DisputeAction string

// The dispute actions.
const (
	// DisputeChargeback: the card network took the funds back (Stripe's
	// charge.dispute.funds_withdrawn, a dispute opened, or lost).
	DisputeChargeback DisputeAction = "chargeback"
	// DisputeReinstated: the dispute was won and the funds came back.
	DisputeReinstated DisputeAction = "reinstated"
)

// Dispute is a card network's dispute of a charge, as the rail reports it
// (a verified Stripe webhook event).
type Dispute struct {
	// ID is the rail's dispute id (dp_…).
	ID string
	// PaymentIntent is the disputed charge's PaymentIntent.
	PaymentIntent string
	// Amount is what the dispute takes back, in Currency.
	Amount   money.Micros
	Currency string
	Action   DisputeAction
	At       time.Time
}

// DisputeResult says what a dispute did.
type DisputeResult struct {
	// Invoice is the disputed invoice; Entries how many earnings entries
	// were new (0 for a report already recorded).
	Invoice string
	Entries int
	// Credit is, for a prepaid top-up, what the dispute did to its credit
	// in the prepaid balance (nil for any other invoice).
	Credit *ledger.PrepaidDispute
}

// Disputes turns disputes of paid invoices into negative earnings of
// their publishers (and reinstated ones back), once per dispute; a
// disputed prepaid top-up's credit is taken back too, and given back when
// the dispute is won.
type Disputes struct {
	// Ledger reads invoices and moves top-ups' credit; Book records
	// earnings; Intents finds the invoice of a PaymentIntent. Required.
	Ledger interface {
		Invoice(ctx context.Context, id string) (*ledger.Invoice, error)
		ChargebackPrepaid(ctx context.Context, r ledger.PrepaidReversal, dispute string, amount money.Micros) (ledger.PrepaidDispute, error)
		ReinstatePrepaid(ctx context.Context, r ledger.PrepaidReversal, dispute string) (ledger.PrepaidDispute, error)
	}
	Book    *earnings.Book
	Intents IntentInvoices
	Logger  *slog.Logger
}

// Apply records d: a chargeback spreads d.Amount over the lines the
// invoice's charge collected, in proportion, each share giving back its fee
// (earnings.Book.Chargeback); a reinstatement gives it back. It is
// idempotent by the dispute's id: webhook retries and replays add nothing,
// and the two may come in either order (a reinstatement first is kept and
// matches its chargeback when it comes: net zero).
//
// A prepaid top-up's chargeback first takes back its credit, as much as
// the dispute takes and no more than is left (ledger.ChargebackPrepaid:
// min(the dispute's amount, the top-up's amount, the balance)), so the
// crawler cannot spend what the card network gives back, and keeps the
// credit the dispute did not take; what it had spent paid for requests
// already served, and is a loss the publisher's earnings bear like any
// chargeback: logged as an error for a person. Its reinstatement gives
// back exactly what was taken, once (ledger.ReinstatePrepaid). A
// chargeback stops the run's automatic top-ups of the agreement until
// finance orders one (see topUpsDue).
//
// A dispute of a payment paycrawl did not make wraps ErrNotOurs; one that
// does not match its invoice (another PaymentIntent, currency or an
// amount above the charge) wraps ledger.ErrInvalid.
func (s *Disputes) Apply(ctx context.Context, d Dispute) (*DisputeResult, error) {
	if s.Ledger == nil || s.Book == nil || s.Intents == nil {
		return nil, errors.New("settle: disputes need a ledger, an earnings book and the stripe rail")
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	id, err := s.Intents.InvoiceOfIntent(ctx, d.PaymentIntent)
	if err != nil {
		return nil, err
	}
	inv, err := s.Ledger.Invoice(ctx, id)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, fmt.Errorf("%w: PaymentIntent %s names invoice %s, which the ledger does not hold", ErrNotOurs, d.PaymentIntent, id)
	}
	if err != nil {
		return nil, err
	}
	if inv.PaymentIntent != d.PaymentIntent {
		return nil, fmt.Errorf("%w: dispute %s is of PaymentIntent %s; invoice %s was charged by %q", ledger.ErrInvalid, d.ID, d.PaymentIntent, id, inv.PaymentIntent)
	}
	if !strings.EqualFold(d.Currency, inv.Currency) {
		return nil, fmt.Errorf("%w: dispute %s is in %s; invoice %s is in %s", ledger.ErrInvalid, d.ID, d.Currency, id, inv.Currency)
	}
	if d.Action != DisputeChargeback && d.Action != DisputeReinstated {
		return nil, fmt.Errorf("%w: dispute action %q", ledger.ErrInvalid, d.Action)
	}
	// The id as the earnings book checks it, before any credit moves: a
	// refused id must move nothing.
	if err := earnings.ValidChargebackID(d.ID); err != nil {
		return nil, fmt.Errorf("settle: dispute of invoice %s: %w", id, err)
	}
	// Refused before any credit moves (Book.Chargeback checks them too).
	if d.Action == DisputeChargeback && inv.Status != ledger.StatusPaid {
		return nil, fmt.Errorf("%w: invoice %s is %s; only a paid invoice can be charged back", ledger.ErrInvalid, id, inv.Status)
	}
	if d.Action == DisputeChargeback && (d.Amount <= 0 || d.Amount > inv.Charged) {
		return nil, fmt.Errorf("%w: chargeback %s is not in (0, charged %s] of invoice %s", ledger.ErrInvalid, d.Amount, inv.Charged, id)
	}
	res := &DisputeResult{Invoice: id}
	if tu, ok := topUpOf(inv); ok {
		// The credit first: taken back before anything else, so that no
		// request draws it meanwhile; a failure after it is retried by
		// the webhook, and each step is idempotent by the dispute.
		if res.Credit, err = s.topUpCredit(ctx, log, inv, tu, d); err != nil {
			return nil, err
		}
	}
	cb := earnings.Chargeback{ID: d.ID, Amount: d.Amount, At: d.At}
	var rep earnings.Report
	if d.Action == DisputeChargeback {
		rep, err = s.Book.Chargeback(ctx, id, cb)
	} else {
		rep, err = s.Book.Reinstatement(ctx, id, cb)
	}
	if err != nil {
		return nil, err
	}
	if rep.Entries > 0 {
		log.Warn("settle: dispute recorded in publishers' earnings", "dispute", d.ID, "action", d.Action, "invoice", id,
			"amount", d.Amount.String(), "entries", rep.Entries)
	}
	res.Entries = rep.Entries
	return res, nil
}

// topUpCredit takes back (a chargeback) or gives back (a reinstatement)
// top-up tu's credit for dispute d of inv, and logs what it did.
func (s *Disputes) topUpCredit(ctx context.Context, log *slog.Logger, inv *ledger.Invoice, tu topUp, d Dispute) (*ledger.PrepaidDispute, error) {
	rv := tu.reversal(inv)
	var pd ledger.PrepaidDispute
	var err error
	if d.Action == DisputeChargeback {
		pd, err = s.Ledger.ChargebackPrepaid(ctx, rv, d.ID, min(d.Amount, rv.Amount))
	} else {
		pd, err = s.Ledger.ReinstatePrepaid(ctx, rv, d.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("settle: dispute %s of top-up %s: %w", d.ID, inv.ID, err)
	}
	attrs := []any{"dispute", d.ID, "invoice", inv.ID, "account", inv.Account, "agreement", rv.Agreement,
		"top-up", rv.Amount.String(), "disputed", d.Amount.String(), "moved", pd.Moved.String(), "balance", pd.Balance.String()}
	switch {
	case !pd.Applied:
	case pd.Matched:
		log.Info("settle: top-up chargeback after its dispute was won: no credit taken", attrs...)
	case pd.Pending:
		log.Info("settle: top-up dispute won before its chargeback was reported: nothing to give back yet", attrs...)
	case d.Action == DisputeReinstated:
		log.Warn("settle: top-up dispute won: its credit given back", attrs...)
	default:
		if lost := min(d.Amount, rv.Amount) - pd.Moved; lost > 0 {
			log.Error("settle: TOP-UP CHARGED BACK after its credit was spent: the publisher's earnings bear the loss; needs a person",
				append(attrs, "spent", lost.String())...)
		} else {
			log.Warn("settle: top-up charged back: its credit taken back", attrs...)
		}
	}
	return &pd, nil
}
