package settle

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// ErrTopUpConflict reports a top-up id of the account already used for
// another agreement or amount.
var ErrTopUpConflict = errors.New("settle: top-up id already used for another top-up")

// TopUpOrder is a prepaid top-up a person asks for now (finance, on the
// crawler operator's request), rather than one the run buys when due.
type TopUpOrder struct {
	// ID is the top-up's id, chosen by the caller: 1 to 32 lower-case
	// letters and digits. It makes the order idempotent: an order with an
	// id already used (today or in the look-back window) charges nothing
	// again and answers with that top-up as it is.
	ID string
	// Account is the crawler operator, Agreement its accepted prepaid
	// agreement in force now.
	Account, Agreement string
	// Amount is the credit to buy (whole cents, at least 1.00); 0 buys the
	// agreement's own top-up amount.
	Amount money.Micros
	// Review names who asked (required) and why (optional); the invoice's
	// history records both.
	Review
}

// TopUpResult is what OrderTopUp did.
type TopUpResult struct {
	// Invoice is the top-up's invoice afterwards (ledger.TopUpInvoiceID,
	// with the order's id as its tag).
	Invoice *ledger.Invoice
	// Created is false when the id was already used: nothing was charged.
	Created bool
	// Charge is the charge attempt made now; nil when none was.
	Charge *ChargeResult
	// Balance is the agreement's prepaid balance afterwards.
	Balance money.Micros
}

// OrderTopUp buys prepaid credit now: it creates the top-up invoice of
// o.ID, approves it without a review window and charges it on the
// crawler's rail, exactly like the run's top-ups (the same attempts,
// idempotency keys and write-ahead records); the amount is credited to the
// ledger's prepaid balance only once the charge is paid. An id already
// used is not charged again: a paid one is credited if a crash left it
// uncredited, one still charging, pending or failed is left to the charge
// runs, which resume, ask about or retry it on its own schedule. Ids are
// the account's own: the same id with another agreement or amount of the
// account is ErrTopUpConflict. A new top-up ordered and paid resumes the
// run's automatic top-ups of the agreement if a refund or a chargeback
// stopped them (see topUpsDue).
func (s *Settler) OrderTopUp(ctx context.Context, o TopUpOrder) (*TopUpResult, error) {
	if strings.TrimSpace(o.Actor) == "" {
		return nil, fmt.Errorf("%w: a top-up needs the name of who asked for it", ledger.ErrInvalid)
	}
	var res *TopUpResult
	err := s.locked(ctx, func(ctx context.Context, ss *session) error {
		stop, err := s.l.PrepaidStopped(ctx, o.Account, o.Agreement)
		if err != nil {
			return err
		}
		if res, err = s.orderTopUp(ctx, ss, o); err != nil {
			return err
		}
		// Only a top-up this order created resumes them: an id used before
		// may be the very top-up that was refunded.
		return s.resumeTopUps(ctx, o.Account, o.Agreement, stop, res.Created && res.Invoice.Status == ledger.StatusPaid,
			"top-up "+res.Invoice.ID+" ordered by "+o.Actor+" was paid")
	})
	return res, err
}

func (s *Settler) orderTopUp(ctx context.Context, ss *session, o TopUpOrder) (*TopUpResult, error) {
	v, err := s.prepaidNow(ctx, o.Account, o.Agreement)
	if err != nil {
		return nil, err
	}
	amount, err := topUpAmount(v, o.Amount)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if _, _, _, err := ledger.ParseInvoiceID(ledger.TopUpInvoiceID(o.Account, ledger.Day(now), o.ID, v.Currency)); err != nil {
		id := o.ID
		if len(id) > 40 {
			id = id[:40] + "…"
		}
		return nil, fmt.Errorf("%w: top-up id %q: want 1 to 32 lower-case letters and digits", ledger.ErrInvalid, id)
	}
	res := &TopUpResult{}
	// The id's invoice, if an earlier order made it (today or on a day of
	// the look-back window: an order retried after midnight).
	for _, day := range append(s.lookbackDays(now), ledger.Day(now)) {
		inv, err := s.l.Invoice(ctx, ledger.TopUpInvoiceID(o.Account, day, o.ID, v.Currency))
		if errors.Is(err, ledger.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(inv.Lines) != 1 || inv.Lines[0].AgreementID != o.Agreement || inv.Lines[0].Amount != amount {
			return nil, fmt.Errorf("%w: %s is a top-up of another agreement or amount", ErrTopUpConflict, inv.ID)
		}
		if err := s.creditTopUp(ctx, inv.ID); err != nil {
			return nil, err
		}
		res.Invoice = inv
		break
	}
	if res.Invoice == nil {
		// A new top-up only: an id already used answers as it is.
		if err := s.checkTopUpHosts(ctx, v); err != nil {
			return nil, err
		}
		if res.Charge, res.Created, err = s.buyTopUp(ctx, ss, v, amount, o.ID, o.Review); err != nil {
			return nil, err
		}
		if res.Invoice, err = s.l.Invoice(ctx, ledger.TopUpInvoiceID(o.Account, ledger.Day(now), o.ID, v.Currency)); err != nil {
			return nil, err
		}
	} else if res.Invoice, err = s.l.Invoice(ctx, res.Invoice.ID); err != nil {
		return nil, err
	}
	if res.Balance, err = s.l.PrepaidBalance(ctx, o.Account, o.Agreement); err != nil {
		return nil, err
	}
	return res, nil
}
