package settle_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testlog"
	"github.com/paycrawl/paycrawl/internal/teststripe"
	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/evm/devchain"
	"github.com/paycrawl/paycrawl/pkg/settle/stripe"
)

// prepAgreement is prepaidWorld's agreement of account acct.
func (e *env) prepAgreement(acct string) agreement.Agreement {
	e.t.Helper()
	vs, err := e.arr.Agreements(e.ctx, acct)
	if err != nil || len(vs) != 1 {
		e.t.Fatalf("agreements of %s: %v %v", acct, vs, err)
	}
	return vs[0]
}

// paidTopUp buys a top-up of amount for prep on stripe-mock and returns
// its paid invoice.
func (e *env) paidTopUp(s *settle.Settler, amount money.Micros) *ledger.Invoice {
	e.t.Helper()
	res, err := s.TopUp(e.ctx, "prep", "agr_prep", amount)
	if err != nil || res.Status != ledger.StatusPaid {
		e.t.Fatalf("TopUp = %+v, %v", res, err)
	}
	inv := e.invoice(res.Invoice)
	e.assertStripeOnce(inv)
	return inv
}

// stripeCents is what Stripe refunded of invoice id, in cents.
func (e *env) stripeCents(id string) (n int, cents int64) {
	for _, rf := range e.refundsOf(id) {
		n++
		cents += rf.Amount
	}
	return n, cents
}

// TestTopUpRefundGivesBackUnspentCredit: a 5.00 top-up of which requests
// drew 1.234567 is refunded for the 3.76 left in whole cents, taken back
// from the balance before Stripe is called; the 0.005433 below a cent
// stays; a request drawing more than that is refused, one drawing it is
// served, then nothing more. A refund in part is refused with nothing
// changed; a second refund finds nothing left; a resend of the same
// refund after a crash takes nothing more from the balance.
func TestTopUpRefundGivesBackUnspentCredit(t *testing.T) {
	e, _, s, balance := prepaidWorld(t)
	inv := e.paidTopUp(s, 5_000_000)
	v := e.prepAgreement("prep")
	if refused, err := e.agreed("prep", noon(2), v, 1_234_567, 1); refused != 0 {
		t.Fatal(err)
	}
	if b := balance("prep"); b != 3_765_433 {
		t.Fatalf("balance after the draw: %s", b)
	}
	rv := settle.Review{Actor: "fin", Reason: "the operator closed its account"}
	for _, part := range []money.Micros{1_000_000, 3_770_000, 5_000_000} {
		_, err := s.Refund(e.ctx, inv.ID, part, rv)
		wantErr(t, err, settle.ErrTopUpSpent)
		if !strings.Contains(err.Error(), "3.76 USD of its 5.00 USD") {
			t.Errorf("refusal of %s says %q, want the 3.76 it may refund", part, err)
		}
	}
	if got := e.invoice(inv.ID); len(got.Refunds) != 0 || balance("prep") != 3_765_433 || len(e.refundsOf(inv.ID)) != 0 {
		t.Fatalf("the refusals changed something: refunds %+v, balance %s", got.Refunds, balance("prep"))
	}
	res, err := s.Refund(e.ctx, inv.ID, 3_760_000, rv)
	if err != nil || !strings.Contains(res.Warning, "1.24 USD of it was spent on requests already served") {
		t.Fatalf("Refund = %+v, %v", res, err)
	}
	got := e.invoice(inv.ID)
	if got.Refunded != 3_760_000 || got.RefundPending != 0 || got.Refunds[0].Status != ledger.RefundDone {
		t.Fatalf("refunded %s, pending %s: %+v", got.Refunded, got.RefundPending, got.Refunds)
	}
	if n, cents := e.stripeCents(inv.ID); n != 1 || cents != 376 {
		t.Fatalf("Stripe refunded %d times %d cents, want once 376", n, cents)
	}
	if b := balance("prep"); b != 5_433 {
		t.Fatalf("balance after the refund: %s, want the 0.005433 below a cent", b)
	}
	// What the gateway can still draw: 0.005433, not a micro-unit more.
	if refused, err := e.agreed("prep", noon(2), v, 5_434, 1); refused != 1 || !errors.Is(err, ledger.ErrPrepaidExhausted) {
		t.Fatalf("a draw above the balance: refused %d, %v", refused, err)
	}
	if refused, err := e.agreed("prep", noon(2), v, 5_433, 1); refused != 0 {
		t.Fatalf("a draw of the balance: %v", err)
	}
	if refused, _ := e.agreed("prep", noon(2), v, 1, 1); refused != 1 || balance("prep") != 0 {
		t.Fatalf("a draw of an empty balance was served (balance %s)", balance("prep"))
	}
	// Nothing left to refund; Stripe is not called again.
	_, err = s.Refund(e.ctx, inv.ID, 0, rv)
	wantErr(t, err, ledger.ErrRefundExceeds)
	if n, _ := e.stripeCents(inv.ID); n != 1 {
		t.Fatalf("%d Stripe refunds after the second refund", n)
	}
}

// TestTopUpRefundCrashTakesOnce: a refund of a top-up that crashes after
// Stripe refunded it is resumed by the next run; the credit was taken back
// once, before the call, and the resume takes nothing more.
func TestTopUpRefundCrashTakesOnce(t *testing.T) {
	e, _, _, balance := prepaidWorld(t)
	s := e.settler(hooks{})
	inv := e.paidTopUp(s, 5_000_000)
	a := e.paidTopUp(s, 2_000_000) // another top-up's credit, not this refund's
	v := e.prepAgreement("prep")
	if refused, err := e.agreed("prep", noon(2), v, 4_000_000, 1); refused != 0 {
		t.Fatal(err)
	}
	// 3.00 left of 7.00: the 5.00 top-up gives back 3.00 (its amount or
	// the balance, whichever is less).
	hook, fired := crashAt(settle.FaultAfterStripeCall)
	res, err := e.settler(hooks{stripe: hook}).Refund(e.ctx, inv.ID, 0, settle.Review{Actor: "fin", Reason: "r"})
	if err != nil || fired.Load() != 1 || !strings.Contains(res.Warning, "injected") || !strings.Contains(res.Warning, "2.00 USD of it was spent") {
		t.Fatalf("crashed refund = %+v, %v", res, err)
	}
	if b := balance("prep"); b != 0 {
		t.Fatalf("balance while the refund is pending: %s, want 0 (taken back before Stripe was called)", b)
	}
	if n, err := e.settler(hooks{}).ResumeRefunds(e.ctx, dec(2)); err != nil || n != 1 {
		t.Fatalf("ResumeRefunds = %d, %v", n, err)
	}
	got := e.invoice(inv.ID)
	if got.Refunded != 3_000_000 || got.RefundPending != 0 || balance("prep") != 0 {
		t.Fatalf("after the resume: refunded %s pending %s balance %s", got.Refunded, got.RefundPending, balance("prep"))
	}
	if n, cents := e.stripeCents(inv.ID); n != 1 || cents != 300 {
		t.Fatalf("Stripe refunded %d times %d cents", n, cents)
	}
	// The other top-up's credit was all taken: it has nothing to refund.
	_, err = s.Refund(e.ctx, a.ID, 0, settle.Review{Actor: "fin", Reason: "r"})
	wantErr(t, err, settle.ErrTopUpSpent)
}

// TestTopUpRefundAllSpent: a top-up whose credit requests drew to the last
// micro-unit is not refunded: ErrTopUpSpent, and nothing changes (no refund
// recorded, nothing taken back, Stripe not called).
func TestTopUpRefundAllSpent(t *testing.T) {
	e, _, s, balance := prepaidWorld(t)
	inv := e.paidTopUp(s, 5_000_000)
	v := e.prepAgreement("prep")
	if refused, err := e.agreed("prep", noon(2), v, 1_000_000, 5); refused != 0 {
		t.Fatal(err)
	}
	_, err := s.Refund(e.ctx, inv.ID, 0, settle.Review{Actor: "fin", Reason: "r"})
	wantErr(t, err, settle.ErrTopUpSpent)
	if !strings.Contains(err.Error(), "all spent on requests already served") {
		t.Errorf("refusal %q", err)
	}
	st, _ := e.l.PrepaidTopUp(e.ctx, "prep", "agr_prep", topUpID(t, inv.ID))
	if got := e.invoice(inv.ID); len(got.Refunds) != 0 || st.Reversed || balance("prep") != 0 || len(e.refundsOf(inv.ID)) != 0 {
		t.Fatalf("something changed: refunds %+v, state %+v", got.Refunds, st)
	}
}

// topUpID is the prepaid balance's id of top-up invoice id.
func topUpID(t *testing.T, id string) string {
	t.Helper()
	_, slot, _, err := ledger.ParseInvoiceID(id)
	if err != nil || !strings.Contains(slot, "+") {
		t.Fatalf("not a top-up: %s", id)
	}
	return "tu:" + strings.ReplaceAll(slot, "+", ":")
}

// creditFails is the ledger with CreditPrepaid failing: a settler that
// crashed after a top-up's charge was paid, before its credit was written.
type creditFails struct{ settle.Ledger }

func (creditFails) CreditPrepaid(context.Context, string, string, string, money.Micros) (money.Micros, bool, error) {
	return 0, false, ledger.ErrUnavailable
}

// TestTopUpRefundNeverCredited: a top-up paid but not credited yet (the
// credit failed) is refunded whole, and the next run, which credits paid
// top-ups, does not credit it: the balance stays 0 and nothing can be
// drawn.
func TestTopUpRefundNeverCredited(t *testing.T) {
	e, _, _, balance := prepaidWorld(t)
	rail, err := stripe.New(stripe.Config{APIKey: teststripe.APIKey, BaseURL: e.stripeURL, Now: e.clock.Now, MaxNetworkRetries: -1, Logger: testlog.New()})
	if err != nil {
		t.Fatal(err)
	}
	broken, err := settle.New(settle.Options{Ledger: creditFails{e.l}, Payers: e.payers, Rails: []settle.Rail{rail}, Config: e.cfg,
		Now: e.clock.Now, Logger: testlog.New(), Arrangements: e.arr})
	if err != nil {
		t.Fatal(err)
	}
	res, err := broken.TopUp(e.ctx, "prep", "agr_prep", 5_000_000)
	if res == nil || res.Status != ledger.StatusPaid || err == nil || balance("prep") != 0 {
		t.Fatalf("TopUp with the credit failing = %+v, %v, balance %s", res, err, balance("prep"))
	}
	s := e.settler(hooks{})
	out, err := s.Refund(e.ctx, res.Invoice, 0, settle.Review{Actor: "fin", Reason: "r"})
	if err != nil || out.Warning != "" {
		t.Fatalf("Refund = %+v, %v", out, err)
	}
	if n, cents := e.stripeCents(res.Invoice); n != 1 || cents != 500 {
		t.Fatalf("Stripe refunded %d times %d cents, want once 500", n, cents)
	}
	if _, err := s.Charge(e.ctx, dec(2)); err != nil {
		t.Fatal(err)
	}
	mustRun(t, s, e.ctx)
	if b := balance("prep"); b != 0 {
		t.Fatalf("balance after the runs: %s, want 0 (a refunded top-up is never credited)", b)
	}
	if refused, _ := e.agreed("prep", noon(2), e.prepAgreement("prep"), 1, 1); refused != 1 {
		t.Fatal("a draw was served from a refunded top-up's credit")
	}
}

// TestTopUpRefundEVM: on the chain, which pays any micro-unit, a 5.00
// top-up of which requests drew 1.234567 is refunded 3.765433 to the
// paying wallet, exactly what the balance held; nothing is left to draw.
func TestTopUpRefundEVM(t *testing.T) {
	e := newEnv(t, rails{evm: true})
	arr := newArrangements()
	e.arr = arr
	v := sub("agr_coin", 1, "coin", month, time.Time{}, agreement.PeriodMonth, 0, false)
	v.Currency = "USDC"
	v.Terms = agreement.Terms{Kind: agreement.KindPrepaid, Prepaid: &agreement.Prepaid{Amount: 5_000_000}}
	arr.add(v)
	_, wallet := e.evmPayer("coin", 10_000_000, 10_000_000)
	s := e.settler(hooks{})
	e.clock.Set(noon(2))
	res, err := s.TopUp(e.ctx, "coin", "agr_coin", 0)
	if err != nil || res.Status != ledger.StatusPaid {
		t.Fatalf("TopUp = %+v, %v", res, err)
	}
	if err := devchain.Fund(e.ctx, e.chain.Client(), e.minter, e.treasury, devchain.Ether); err != nil {
		t.Fatal(err)
	}
	if err := devchain.Approve(e.ctx, e.chain.Client(), e.treasuryKey, e.token, e.settlerAddr, 10_000_000); err != nil {
		t.Fatal(err)
	}
	if refused, err := e.agreed("coin", noon(2), v, 1_234_567, 1); refused != 0 {
		t.Fatal(err)
	}
	before := e.balance(wallet)
	out, err := s.Refund(e.ctx, res.Invoice, 0, settle.Review{Actor: "fin", Reason: "r"})
	if err != nil || out.Invoice.Refunded != 3_765_433 || !strings.Contains(out.Warning, "1.234567 USDC of it was spent") {
		t.Fatalf("Refund = %+v, %v", out, err)
	}
	if got := e.balance(wallet) - before; got != 3_765_433 {
		t.Fatalf("the wallet got %s back, want 3.765433", got)
	}
	b, err := e.l.PrepaidBalance(e.ctx, "coin", "agr_coin")
	if err != nil || b != 0 {
		t.Fatalf("balance %s, %v", b, err)
	}
	if refused, _ := e.agreed("coin", noon(2), v, 1, 1); refused != 1 {
		t.Fatal("a draw was served after the refund took all the credit")
	}
}
