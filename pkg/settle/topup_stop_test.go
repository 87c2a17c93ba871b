package settle_test

import (
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/stripe"
)

// TestAutomaticTopUpsStopAfterRefundOrChargeback: an agreement of 5.00
// top-ups below 1.00. A top-up bought by the run, 1.00 spent, is refunded:
// its credit taken back leaves the balance at 0, and the next run buys no
// top-up and charges nothing on Stripe. A top-up finance orders resumes
// them: the run buys the next when the balance falls below 1.00. That one
// charged back: the run buys nothing again, until finance asks for one
// (TopUp). Charged back again, a new version of the agreement accepted
// resumes them; a version-1 top-up disputed after that version was
// accepted stops them again.
func TestAutomaticTopUpsStopAfterRefundOrChargeback(t *testing.T) {
	e, arr, s, _ := prepaidWorld(t)
	ds, _ := e.disputes()
	auto := sub("agr_auto", 1, "auto", month, time.Time{}, agreement.PeriodMonth, 0, false)
	auto.Terms = agreement.Terms{Kind: agreement.KindPrepaid, Prepaid: &agreement.Prepaid{Amount: 5_000_000, TopUpBelow: 1_000_000}}
	arr.add(auto)
	e.stripePayer("auto", "pm_card_visa")
	balance := func() money.Micros {
		t.Helper()
		b, err := e.l.PrepaidBalance(e.ctx, "auto", "agr_auto")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// charges counts the succeeded PaymentIntents of auto's invoices.
	charges := func() int {
		n := 0
		for _, in := range e.proxy.Intents() {
			if in.Status == "succeeded" && strings.HasSuffix(in.Metadata[stripe.MetadataInvoice], "_auto_USD") {
				n++
			}
		}
		return n
	}
	day := 2
	// run runs the settler once and returns the top-ups it bought for auto
	// (prep's and broke's first, once, are no matter here).
	run := func() []settle.ChargeResult {
		t.Helper()
		e.clock.Set(noon(day))
		var out []settle.ChargeResult
		for _, tu := range mustRun(t, s, e.ctx).TopUps {
			if tu.Account == "auto" {
				out = append(out, tu)
			}
		}
		return out
	}
	// stays checks that a run buys nothing and charges nothing.
	stays := func(step string) {
		t.Helper()
		before, bal := charges(), balance()
		for range 2 {
			if tu := run(); len(tu) != 0 {
				t.Fatalf("%s: the run bought %+v", step, tu)
			}
		}
		if charges() != before || balance() != bal {
			t.Fatalf("%s: %d Stripe charges (had %d), balance %s (had %s)", step, charges(), before, balance(), bal)
		}
	}
	// buys checks that a run buys one automatic top-up, and returns it.
	buys := func(step string) *ledger.Invoice {
		t.Helper()
		before, bal := charges(), balance()
		tu := run()
		if len(tu) != 1 || tu[0].Status != ledger.StatusPaid || charges() != before+1 || balance() != bal+5_000_000 {
			t.Fatalf("%s: the run bought %+v; %d charges (had %d), balance %s (had %s)", step, tu, charges(), before, balance(), bal)
		}
		return e.invoice(tu[0].Invoice)
	}
	first := buys("first credit")
	e.agreed("auto", noon(day), auto, 50_000, 20) // 1.00 spent
	if _, err := s.Refund(e.ctx, first.ID, 0, settle.Review{Actor: "fin", Reason: "the crawler asked"}); err != nil {
		t.Fatal(err)
	}
	if balance() != 0 {
		t.Fatalf("balance after the refund: %s", balance())
	}
	stays("after a refund")

	// Finance orders one: paid, and automatic top-ups resume.
	o, err := s.OrderTopUp(e.ctx, settle.TopUpOrder{ID: "again1", Account: "auto", Agreement: "agr_auto", Review: settle.Review{Actor: "fin"}})
	if err != nil || !o.Created || o.Invoice.Status != ledger.StatusPaid || o.Balance != 5_000_000 {
		t.Fatalf("OrderTopUp = %+v, %v", o, err)
	}
	e.agreed("auto", noon(day), auto, 50_000, 90) // 4.50 spent: 0.50 left
	second := buys("resumed after an order")

	// A chargeback of it: 5.00 taken back, 0.50 left: nothing bought.
	cb := settle.Dispute{ID: "dp_stop1", PaymentIntent: second.PaymentIntent, Amount: 5_000_000, Currency: "USD", Action: settle.DisputeChargeback, At: noon(day)}
	if _, err := ds.Apply(e.ctx, cb); err != nil || balance() != 500_000 {
		t.Fatalf("chargeback: %v, balance %s", err, balance())
	}
	stays("after a chargeback")
	// Replayed, it stops nothing again once resumed.
	if res, err := s.TopUp(e.ctx, "auto", "agr_auto", 0); err != nil || res.Status != ledger.StatusPaid {
		t.Fatalf("TopUp = %+v, %v", res, err)
	}
	if _, err := ds.Apply(e.ctx, cb); err != nil {
		t.Fatal(err)
	}
	e.agreed("auto", noon(day), auto, 50_000, 90) // 5.50 - 4.50: 1.00 is not below 1.00
	stays("at TopUpBelow")
	e.agreed("auto", noon(day), auto, 1, 1)
	third := buys("resumed after TopUp")

	// Charged back again; a new version accepted resumes them.
	cb3 := settle.Dispute{ID: "dp_stop3", PaymentIntent: third.PaymentIntent, Amount: 5_000_000, Currency: "USD", Action: settle.DisputeChargeback, At: noon(day)}
	if _, err := ds.Apply(e.ctx, cb3); err != nil {
		t.Fatal(err)
	}
	stays("after the second chargeback")
	day = 3
	v2 := auto
	v2.Version, v2.ValidFrom = 2, month.AddDate(0, 0, 2)
	v2.DecidedAt = v2.ValidFrom.Add(-time.Hour) // after the chargeback at noon on the 2nd
	arr.add(v2)
	buys("a new version")

	// A version-1 top-up disputed now, with version 2 in force: version 2
	// was accepted before it, so it does not resume them.
	oinv := e.invoice(o.Invoice.ID)
	cbo := settle.Dispute{ID: "dp_stop4", PaymentIntent: oinv.PaymentIntent, Amount: 1_000_000, Currency: "USD", Action: settle.DisputeChargeback, At: noon(day)}
	e.clock.Set(noon(day))
	if _, err := ds.Apply(e.ctx, cbo); err != nil {
		t.Fatal(err)
	}
	e.agreed("auto", noon(day), v2, 50_000, 100)
	stays("an older version's top-up disputed under a newer version")
}
