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
}

// Disputes turns disputes of paid invoices into negative earnings of
// their publishers (and reinstated ones back), once per dispute.
type Disputes struct {
	// Ledger reads invoices; Book records earnings; Intents finds the
	// invoice of a PaymentIntent. Required.
	Ledger interface {
		Invoice(ctx context.Context, id string) (*ledger.Invoice, error)
	}
	Book    *earnings.Book
	Intents IntentInvoices
	Logger  *slog.Logger
}

// Apply records d: a chargeback spreads d.Amount over the lines the
// invoice's charge collected, in proportion, each share giving back its fee
// (earnings.Book.Chargeback); a reinstatement gives it back. It is
// idempotent by the dispute's id: webhook retries and replays add nothing.
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
	cb := earnings.Chargeback{ID: d.ID, Amount: d.Amount, At: d.At}
	var rep earnings.Report
	switch d.Action {
	case DisputeChargeback:
		rep, err = s.Book.Chargeback(ctx, id, cb)
	case DisputeReinstated:
		rep, err = s.Book.Reinstatement(ctx, id, cb)
	default:
		return nil, fmt.Errorf("%w: dispute action %q", ledger.ErrInvalid, d.Action)
	}
	if err != nil {
		return nil, err
	}
	if rep.Entries > 0 {
		log.Warn("settle: dispute recorded in publishers' earnings", "dispute", d.ID, "action", d.Action, "invoice", id,
			"amount", d.Amount.String(), "entries", rep.Entries)
	}
	return &DisputeResult{Invoice: id, Entries: rep.Entries}, nil
}
