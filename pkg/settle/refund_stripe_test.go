package settle_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/internal/teststripe"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/stripe"
)

// paidStripe runs a day of account on Stripe and returns its paid invoice.
func (e *env) paidStripe(account string, prices ...money.Micros) *ledger.Invoice {
	e.t.Helper()
	e.stripePayer(account, "pm_card_visa")
	e.use(account, 0, "pub", "a.example", "USD", prices...)
	e.clock.Set(e.closeTime(0))
	mustRun(e.t, e.settler(hooks{}), e.ctx)
	inv := e.invoice(ledger.InvoiceID(account, e.day(0), "USD"))
	e.assertStripeOnce(inv)
	return inv
}

// refundsOf lists the proxy's refunds of an invoice.
func (e *env) refundsOf(id string) []teststripe.Refund {
	var out []teststripe.Refund
	for _, rf := range e.proxy.Refunds() {
		if rf.Metadata[stripe.MetadataInvoice] == id {
			out = append(out, rf)
		}
	}
	return out
}

// TestStripeRefund refunds a paid invoice on stripe-mock in steps: part,
// more than is left (refused, nothing sent), the rest by default; each
// refund under its own key derived from the invoice and its sequence, for
// its cents, recorded in the history; then every refusal.
func TestStripeRefund(t *testing.T) {
	e := newEnv(t, rails{stripe: true})
	inv := e.paidStripe("op_refund", 1_000_000, 500_000)
	s := e.settler(hooks{})
	rv := settle.Review{Actor: "fin", Reason: "crawled a paywall by mistake"}
	steps := []struct {
		name     string
		amount   money.Micros
		want     error
		refunded money.Micros
		state    string
		stripe   int
	}{
		{"part", 400_000, nil, 400_000, ledger.RefundStatePartial, 1},
		{"above what is left", 1_100_001, ledger.ErrRefundExceeds, 400_000, ledger.RefundStatePartial, 1},
		{"part of a cent", 1_000, ledger.ErrInvalid, 400_000, ledger.RefundStatePartial, 1},
		{"negative", -10_000, ledger.ErrInvalid, 400_000, ledger.RefundStatePartial, 1},
		{"the rest", 0, nil, 1_500_000, ledger.RefundStateFull, 2},
		{"nothing left", 0, ledger.ErrRefundExceeds, 1_500_000, ledger.RefundStateFull, 2},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			res, err := s.Refund(e.ctx, inv.ID, st.amount, rv)
			if st.want == nil && (err != nil || res.Warning != "") || st.want != nil && !errors.Is(err, st.want) {
				t.Fatalf("Refund = %+v, %v; want %v", res, err, st.want)
			}
			got := e.invoice(inv.ID)
			if got.Status != ledger.StatusPaid || got.Refunded != st.refunded || got.RefundState() != st.state || got.RefundPending != 0 {
				t.Fatalf("after: %s refunded %s pending %s state %q", got.Status, got.Refunded, got.RefundPending, got.RefundState())
			}
			if n := len(e.refundsOf(inv.ID)); n != st.stripe {
				t.Fatalf("%d Stripe refunds, want %d", n, st.stripe)
			}
		})
	}
	got := e.invoice(inv.ID)
	rfs := e.refundsOf(inv.ID)
	for i, want := range []int64{40, 110} {
		r := got.Refunds[i]
		if rfs[i].Amount != want || rfs[i].PaymentIntent != inv.PaymentIntent || rfs[i].IdempotencyKey != stripe.RefundKey(inv.ID, int64(i+1)) ||
			r.Status != ledger.RefundDone || r.Reference != rfs[i].ID || money.FromCents(want) != r.Amount {
			t.Errorf("refund %d: ledger %+v, Stripe %+v", i+1, r, rfs[i])
		}
	}
	var reasons []string
	for _, ev := range got.History {
		if ev.Kind == "refund" {
			reasons = append(reasons, string(ev.RefundStatus)+": "+ev.Reason)
		}
	}
	if len(reasons) != 4 || reasons[0] != "pending: crawled a paywall by mistake" || !strings.HasPrefix(reasons[1], "done: refunded 0.40 USD by Stripe refund re_") {
		t.Errorf("refund history %q", reasons)
	}
	// Only a paid invoice is refunded; an unknown one is not found.
	e.stripePayer("op_unpaid", "pm_card_chargeDeclined")
	e.use("op_unpaid", 1, "pub", "a.example", "USD", 1_000_000)
	e.clock.Set(e.closeTime(1))
	mustRun(t, e.settler(hooks{}), e.ctx)
	_, err := s.Refund(e.ctx, ledger.InvoiceID("op_unpaid", e.day(1), "USD"), 0, rv)
	var te *ledger.TransitionError
	if !errors.As(err, &te) || te.Current != ledger.StatusFailed {
		t.Fatalf("refund of a failed invoice: %v", err)
	}
	_, err = s.Refund(e.ctx, ledger.InvoiceID("op_nobody", e.day(0), "USD"), 0, rv)
	wantErr(t, err, ledger.ErrNotFound)
	_, err = s.Refund(e.ctx, inv.ID, 0, settle.Review{Actor: "fin"})
	wantErr(t, err, ledger.ErrInvalid)
}

// TestStripeRefundResentIsOnce crashes a refund before and after the Stripe
// call: the refund stays pending, the next run resends the same request
// under the same key, and Stripe refunds once.
func TestStripeRefundResentIsOnce(t *testing.T) {
	for _, point := range []string{settle.FaultBeforeStripeCall, settle.FaultAfterStripeCall, settle.FaultBeforeOutcome} {
		t.Run(point, func(t *testing.T) {
			e := newEnv(t, rails{stripe: true})
			inv := e.paidStripe("op_crash", 2_000_000)
			hook, fired := crashAt(point)
			h := hooks{stripe: hook}
			if point == settle.FaultBeforeOutcome {
				h = hooks{settler: hook}
			}
			res, err := e.settler(h).Refund(e.ctx, inv.ID, 750_000, settle.Review{Actor: "fin", Reason: "goodwill"})
			if err != nil || fired.Load() != 1 || !strings.Contains(res.Warning, "injected") {
				t.Fatalf("crashed refund = %+v, %v (fired %d)", res, err, fired.Load())
			}
			if got := e.invoice(inv.ID); got.RefundPending != 750_000 || got.Refunded != 0 || got.Refunds[0].Status != ledger.RefundPending {
				t.Fatalf("after the crash: %+v", got.Refunds)
			}
			// A new refund while one is pending counts it as refunded.
			_, err = e.settler(hooks{}).Refund(e.ctx, inv.ID, 1_250_001, settle.Review{Actor: "fin", Reason: "more"})
			wantErr(t, err, ledger.ErrRefundExceeds)
			rep := mustRun(t, e.settler(hooks{}), e.ctx)
			if rep.Days[len(rep.Days)-1].Refunds+rep.Days[0].Refunds+rep.Days[1].Refunds != 1 {
				t.Errorf("run report: %+v", rep.Days)
			}
			got := e.invoice(inv.ID)
			if got.Refunded != 750_000 || got.RefundPending != 0 || got.Refunds[0].Status != ledger.RefundDone {
				t.Fatalf("after the resume: refunded %s, %+v", got.Refunded, got.Refunds)
			}
			rfs := e.refundsOf(inv.ID)
			key := stripe.RefundKey(inv.ID, 1)
			if len(rfs) != 1 || rfs[0].Amount != 75 || rfs[0].IdempotencyKey != key || got.Refunds[0].Reference != rfs[0].ID {
				t.Fatalf("Stripe refunds %+v", rfs)
			}
			wantReq := 2
			if point == settle.FaultBeforeStripeCall {
				wantReq = 1
			}
			if n := e.proxy.Requests(key); n != wantReq {
				t.Errorf("%d requests under %s, want %d", n, key, wantReq)
			}
			mustRun(t, e.settler(hooks{}), e.ctx)
			if len(e.refundsOf(inv.ID)) != 1 || e.invoice(inv.ID).Refunded != 750_000 {
				t.Errorf("a second run refunded again")
			}
		})
	}
}
