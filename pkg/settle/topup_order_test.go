package settle_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// TestOrderTopUp: a top-up ordered by a person is charged once on
// stripe-mock and credited only once paid; the same id again, the same day
// or after midnight, charges and credits nothing more; the same id with
// another amount is a conflict; a declined card buys nothing, and ordering
// it again does not charge it again; bad orders are refused before
// anything is written.
func TestOrderTopUp(t *testing.T) {
	e, _, s, balance := prepaidWorld(t)
	order := func(acct, id string, amount money.Micros) (*settle.TopUpResult, error) {
		return s.OrderTopUp(e.ctx, settle.TopUpOrder{ID: id, Account: acct, Agreement: "agr_" + acct, Amount: amount,
			Review: settle.Review{Actor: "finance-ana", Reason: "asked by the operator, ticket 42"}})
	}

	res, err := order("prep", "t1", 12_000_000)
	if err != nil || !res.Created || res.Charge == nil || res.Charge.Status != ledger.StatusPaid || res.Balance != 12_000_000 {
		t.Fatalf("OrderTopUp = %+v, %v", res, err)
	}
	inv := e.invoice(res.Invoice.ID)
	e.assertStripeOnce(inv)
	if inv.ID != ledger.TopUpInvoiceID("prep", dec(2), "t1", "USD") || inv.Total != 12_000_000 || len(inv.Lines) != 1 ||
		inv.Lines[0].Kind != ledger.LineTopUp || inv.Lines[0].AgreementID != "agr_prep" {
		t.Fatalf("top-up invoice: %+v", inv)
	}
	if h := inv.History[0]; h.Actor != "finance-ana" || !strings.Contains(h.Reason, "ticket 42") {
		t.Fatalf("the invoice's creation names %q: %q, want the person and the reason", h.Actor, h.Reason)
	}
	// The same order again, later that day and after midnight: the same
	// top-up, not charged or credited again.
	for _, at := range []time.Time{noon(2).Add(time.Hour), noon(3)} {
		e.clock.Set(at)
		again, err := order("prep", "t1", 12_000_000)
		if err != nil || again.Created || again.Charge != nil || again.Invoice.ID != inv.ID || again.Balance != 12_000_000 {
			t.Fatalf("the order again at %s = %+v, %v", at, again, err)
		}
		e.assertStripeOnce(e.invoice(inv.ID))
	}
	if _, err := order("prep", "t1", 1_000_000); !errors.Is(err, settle.ErrTopUpConflict) {
		t.Fatalf("the id again with another amount: %v, want ErrTopUpConflict", err)
	}
	// The agreement's own amount under a new id.
	if res, err = order("prep", "t2", 0); err != nil || !res.Created || res.Balance != 17_000_000 {
		t.Fatalf("a second top-up = %+v, %v", res, err)
	}

	// A declined card: failed, nothing credited; the order again leaves it
	// to the charge runs' retry schedule.
	res, err = order("broke", "d1", 0)
	if err != nil || !res.Created || res.Invoice.Status != ledger.StatusFailed || res.Balance != 0 {
		t.Fatalf("declined OrderTopUp = %+v, %v", res, err)
	}
	attempts := len(e.intents(res.Invoice.ID))
	if again, err := order("broke", "d1", 0); err != nil || again.Created || again.Charge != nil || balance("broke") != 0 ||
		len(e.intents(res.Invoice.ID)) != attempts {
		t.Fatalf("the declined order again = %+v, %v: %d intents, was %d", again, err, len(e.intents(res.Invoice.ID)), attempts)
	}

	// Bad orders.
	made := len(e.invoices(dec(3)))
	for _, c := range []struct {
		name string
		o    settle.TopUpOrder
		want error
	}{
		{"no actor", settle.TopUpOrder{ID: "b1", Account: "prep", Agreement: "agr_prep"}, ledger.ErrInvalid},
		{"bad id", settle.TopUpOrder{ID: "Not_An_Id", Account: "prep", Agreement: "agr_prep", Review: settle.Review{Actor: "a"}}, ledger.ErrInvalid},
		{"long id", settle.TopUpOrder{ID: strings.Repeat("a", 33), Account: "prep", Agreement: "agr_prep", Review: settle.Review{Actor: "a"}}, ledger.ErrInvalid},
		{"no id", settle.TopUpOrder{Account: "prep", Agreement: "agr_prep", Review: settle.Review{Actor: "a"}}, ledger.ErrInvalid},
		{"fractions of a cent", settle.TopUpOrder{ID: "b2", Account: "prep", Agreement: "agr_prep", Amount: 1_234, Review: settle.Review{Actor: "a"}}, ledger.ErrInvalid},
		{"another's agreement", settle.TopUpOrder{ID: "b3", Account: "prep", Agreement: "agr_broke", Review: settle.Review{Actor: "a"}}, settle.ErrNoPrepaid},
	} {
		if _, err := s.OrderTopUp(e.ctx, c.o); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if b := balance("prep"); b != 17_000_000 {
		t.Fatalf("balance after the bad orders: %s", b)
	}
	if n := len(e.invoices(dec(3))); n != made {
		t.Fatalf("the bad orders made %d invoices", n-made)
	}
}

// prepaidWorld is the top-up tests' world at noon of day 2: accounts prep
// (a card that pays) and broke (a declined card), each with the accepted
// prepaid agreement agr_<account> buying 5.00; balance reads an account's
// prepaid balance.
func prepaidWorld(t *testing.T) (*env, *arrangements, *settle.Settler, func(acct string) money.Micros) {
	e := newEnv(t, rails{stripe: true})
	arr := newArrangements()
	e.arr = arr
	for _, acct := range []string{"prep", "broke"} {
		p := sub("agr_"+acct, 1, acct, month, time.Time{}, agreement.PeriodMonth, 0, false)
		p.Terms = agreement.Terms{Kind: agreement.KindPrepaid, Prepaid: &agreement.Prepaid{Amount: 5_000_000}}
		arr.add(p)
	}
	e.stripePayer("prep", "pm_card_visa")
	e.stripePayer("broke", "pm_card_chargeDeclined")
	s := e.settler(hooks{})
	e.clock.Set(noon(2))
	balance := func(acct string) money.Micros {
		b, err := e.l.PrepaidBalance(e.ctx, acct, "agr_"+acct)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return e, arr, s, balance
}
