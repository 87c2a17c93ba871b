package finance

import (
	"time"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// The finance actions, as the API and the page name them.
const (
	actHold    = "hold"
	actRelease = "release"
	actVoid    = "void"
	actApprove = "approve"
	actCredit  = "credit"
	actRefund  = "refund"
)

// actionsFor lists the actions inv's status allows, in display order.
// Approve also needs a checked day (the settler refuses it otherwise), so
// it is offered only then.
func actionsFor(inv *ledger.Invoice) []string {
	out := []string{}
	st := inv.Status
	if ledger.CanTransition(st, ledger.StatusApproved) && st == ledger.StatusDraft &&
		(inv.Check == ledger.CheckOK || inv.Check == ledger.CheckMismatch && wasHeld(inv)) {
		out = append(out, actApprove)
	}
	if ledger.CanTransition(st, ledger.StatusHeld) {
		out = append(out, actHold)
	}
	if st == ledger.StatusHeld {
		out = append(out, actRelease)
	}
	if st == ledger.StatusDraft || st == ledger.StatusHeld {
		out = append(out, actCredit)
	}
	if ledger.CanTransition(st, ledger.StatusVoid) {
		out = append(out, actVoid)
	}
	if inv.Refundable() > 0 {
		out = append(out, actRefund)
	}
	return out
}

// wasHeld reports whether inv was ever held: a list entry has no history
// and says no, which only hides the approve button of a released
// mismatched invoice in the list.
func wasHeld(inv *ledger.Invoice) bool {
	for _, e := range inv.History {
		if e.Kind == "transition" && e.To == ledger.StatusHeld {
			return true
		}
	}
	return false
}

// can reports whether action is in inv's allowed actions.
func can(inv *ledger.Invoice, action string) bool {
	for _, a := range actionsFor(inv) {
		if a == action {
			return true
		}
	}
	return false
}

// invoiceFigures are the sums over an invoice's lines.
type invoiceFigures struct {
	Requests        int64
	Amount, Credits money.Micros
}

func figures(inv *ledger.Invoice) invoiceFigures {
	var f invoiceFigures
	for _, l := range inv.Lines {
		f.Requests += l.Count
		f.Amount += l.Amount
		f.Credits += l.Credit
	}
	return f
}

// toWire converts an invoice for the API.
func toWire(inv *ledger.Invoice) wire.Invoice {
	f := figures(inv)
	out := wire.Invoice{
		ID: inv.ID, Account: inv.Account, Day: inv.Day, Currency: inv.Currency, Status: string(inv.Status),
		Requests: f.Requests, Amount: f.Amount.String(), Credits: f.Credits.String(),
		CarriedIn: inv.CarriedIn.String(), Total: inv.Total.String(),
		Charged: inv.Charged.String(), CarriedOut: inv.CarriedOut.String(),
		Rail: inv.Rail, PaymentIntent: inv.PaymentIntent, TxHash: inv.TxHash, Block: inv.Block, Error: inv.Error,
		Check: inv.Check, Checked: timePtr(inv.Checked), Created: inv.Created, Updated: inv.Updated,
		Lines: make([]wire.Line, len(inv.Lines)), Actions: actionsFor(inv),
		Refunded: inv.Refunded.String(), RefundPending: inv.RefundPending.String(), Refundable: inv.Refundable().String(),
		RefundState: inv.RefundState(), From: inv.From, Covered: inv.Covered,
	}
	for _, r := range inv.Refunds {
		out.Refunds = append(out.Refunds, wire.Refund{Seq: r.Seq, Amount: r.Amount.String(), Status: string(r.Status),
			Reference: r.Reference, Error: r.Error, Actor: r.Actor, Reason: r.Reason, At: r.At})
	}
	for i, l := range inv.Lines {
		out.Lines[i] = wire.Line{N: i + 1, Publisher: l.Publisher, Site: l.Site, Requests: l.Count,
			Amount: l.Amount.String(), Credit: l.Credit.String(), Net: (l.Amount - l.Credit).String(),
			Kind: l.Kind, AgreementID: l.AgreementID, AgreementVersion: l.AgreementVersion}
	}
	for _, e := range inv.History {
		we := wire.Event{ID: e.ID, Kind: e.Kind, From: string(e.From), To: string(e.To), At: e.At,
			Actor: e.Actor, Reason: e.Reason}
		if e.Kind == "credit" {
			we.Line, we.Credit = e.Line+1, e.Credit.String()
		}
		if e.Kind == "refund" {
			we.Refund, we.Amount, we.RefundStatus, we.Reference = e.Refund, e.Amount.String(), string(e.RefundStatus), e.Reference
		}
		out.History = append(out.History, we)
	}
	for _, a := range inv.Attempts {
		out.Attempts = append(out.Attempts, wire.Attempt{ID: a.ID, At: a.At, Number: a.Number, Rail: a.Rail,
			Reference: a.Reference, Amount: a.Amount.String(), Outcome: a.Outcome, Error: a.Error})
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
