package settle_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/stripe"
)

// TestStripeMinimumCarryOverAcrossDays: a day below Stripe's minimum is
// carried over whole, without a call; the next day's invoice takes it in and
// is charged in cents, its sub-cent remainder carried on; every amount adds up
// to the micro-unit.
func TestStripeMinimumCarryOverAcrossDays(t *testing.T) {
	e := newEnv(t, rails{stripe: true})
	e.stripePayer("op_small", "pm_card_visa")
	days := []struct {
		usage                     []money.Micros
		status                    ledger.Status
		carriedIn, total, charged money.Micros
		carriedOut, balance       money.Micros
	}{
		{[]money.Micros{100_000, 200_000}, ledger.StatusCarried, 0, 300_000, 0, 300_000, 300_000},
		{[]money.Micros{456_789}, ledger.StatusPaid, 300_000, 756_789, 750_000, 6_789, 6_789},
		{[]money.Micros{500_000}, ledger.StatusPaid, 6_789, 506_789, 500_000, 6_789, 6_789},
	}
	for i, d := range days {
		e.use("op_small", i, "pub", "a.example", "USD", d.usage...)
		e.clock.Set(e.closeTime(i))
		mustRun(t, e.settler(hooks{}), e.ctx)
		inv := e.invoice(ledger.InvoiceID("op_small", e.day(i), "USD"))
		if inv.Status != d.status || inv.CarriedIn != d.carriedIn || inv.Total != d.total || inv.Charged != d.charged ||
			inv.CarriedOut != d.carriedOut || inv.Rail != stripe.Name {
			t.Fatalf("day %d invoice: %s in %s total %s charged %s out %s rail %q", i, inv.Status, inv.CarriedIn, inv.Total, inv.Charged, inv.CarriedOut, inv.Rail)
		}
		if bal, err := e.l.Carry(e.ctx, "op_small", "USD"); err != nil || bal != d.balance {
			t.Fatalf("day %d carry balance = %s, %v; want %s", i, bal, err, d.balance)
		}
		last := inv.History[len(inv.History)-1]
		switch d.status {
		case ledger.StatusCarried:
			if len(e.intents(inv.ID)) != 0 || !strings.Contains(last.Reason, "below the minimum charge of 0.50 USD: carried over") {
				t.Errorf("day %d: intents %v, reason %q", i, e.intents(inv.ID), last.Reason)
			}
		case ledger.StatusPaid:
			e.assertStripeOnce(inv)
			if !strings.Contains(last.Reason, "sub-cent remainder 0.006789 USD is carried over") {
				t.Errorf("day %d reason %q", i, last.Reason)
			}
		}
	}
}

// TestStripeDeclinedCardRetries: a declined card fails with Stripe's decline
// code and is retried on the backoff schedule, each attempt under its own
// key, until the limit; then it stays failed and visible. A card fixed
// before the last attempt is charged once.
func TestStripeDeclinedCardRetries(t *testing.T) {
	tests := []struct {
		name      string
		fixBefore int64 // the attempt before which the card works; 0 never
		final     ledger.Status
		attempts  int64
	}{
		{"stays declined", 0, ledger.StatusFailed, 3},
		{"fixed for the second attempt", 2, ledger.StatusPaid, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, rails{stripe: true})
			cfg := e.cfg
			cfg.MaxAttempts, cfg.RetrySchedule = 3, []time.Duration{time.Hour, 6 * time.Hour}
			e.stripePayer("op_card", "pm_card_chargeDeclinedInsufficientFunds")
			e.use("op_card", 0, "pub", "a.example", "USD", 2_000_000)
			id := ledger.InvoiceID("op_card", e.day(0), "USD")
			start := e.closeTime(0)
			steps := []struct {
				at      time.Duration
				attempt int64
			}{{0, 1}, {30 * time.Minute, 1}, {time.Hour, 2}, {2 * time.Hour, 2}, {7 * time.Hour, 3}, {72 * time.Hour, 3}}
			for _, st := range steps {
				if st.attempt == tt.fixBefore {
					e.stripePayer("op_card", "pm_card_visa")
				}
				e.clock.Set(start.Add(st.at))
				_, err := e.settlerWith(cfg, hooks{}).RunOnce(e.ctx)
				if err != nil {
					t.Fatal(err)
				}
				inv := e.invoice(id)
				want := st.attempt
				if want > tt.attempts {
					want = tt.attempts
				}
				if got := attemptsOf(inv); got != want {
					t.Fatalf("at +%s: %d attempts, want %d", st.at, got, want)
				}
			}
			inv := e.invoice(id)
			if inv.Status != tt.final {
				t.Fatalf("final status %s (%s)", inv.Status, inv.Error)
			}
			if tt.final == ledger.StatusPaid {
				e.assertStripeOnce(inv)
				return
			}
			// Every attempt is recorded, numbered, with the decline code, and
			// went out under its own key.
			var outcomes []string
			for _, a := range inv.Attempts {
				outcomes = append(outcomes, a.Outcome)
				if a.Outcome == "insufficient_funds" && !strings.Contains(a.Error, "card declined: insufficient_funds") {
					t.Errorf("attempt %d error %q", a.Number, a.Error)
				}
			}
			if strings.Join(outcomes, ",") != "started,requested,insufficient_funds,started,requested,insufficient_funds,started,requested,insufficient_funds" ||
				inv.Attempts[6].Number != 3 || inv.Attempts[7].Reference != "pm_card_chargeDeclinedInsufficientFunds" || !strings.Contains(inv.Error, "insufficient_funds") {
				t.Fatalf("attempts %+v, error %q", inv.Attempts, inv.Error)
			}
			intents := e.intents(id)
			if len(intents) != 3 {
				t.Fatalf("%d intents, want 3", len(intents))
			}
			for i, in := range intents {
				if in.IdempotencyKey != stripe.IdempotencyKey(id, int64(i+1)) || in.Status == "succeeded" {
					t.Errorf("intent %d: %+v", i, in)
				}
			}
		})
	}
}

// TestStripePendingIsReconciled: a charge still processing is pending with
// its PaymentIntent; a later run asks Stripe and records it paid.
func TestStripePendingIsReconciled(t *testing.T) {
	e := newEnv(t, rails{stripe: true})
	e.stripePayer("op_slow", "pm_card_processing")
	e.use("op_slow", 0, "pub", "a.example", "USD", 1_000_000)
	e.clock.Set(e.closeTime(0))
	mustRun(t, e.settler(hooks{}), e.ctx)
	id := ledger.InvoiceID("op_slow", e.day(0), "USD")
	inv := e.invoice(id)
	if inv.Status != ledger.StatusPending || inv.PaymentIntent == "" {
		t.Fatalf("after the first run: %s pi %q", inv.Status, inv.PaymentIntent)
	}
	mustRun(t, e.settler(hooks{}), e.ctx) // still processing: nothing changes
	if again := e.invoice(id); again.Status != ledger.StatusPending || len(again.History) != len(inv.History) {
		t.Fatalf("a still-processing charge changed: %s", again.Status)
	}
	e.proxy.SetIntentStatus(inv.PaymentIntent, "succeeded")
	rep := mustRun(t, e.settler(hooks{}), e.ctx)
	e.assertStripeOnce(e.invoice(id))
	if got := rep.Days[len(rep.Days)-1].Charge; got.Count(ledger.StatusPaid) != 1 || got.Results[0].Action != "reconcile" {
		t.Errorf("report %+v", got)
	}
}

// TestStripeKeyWindow: an attempt left charging for longer than Stripe keeps
// idempotency keys is not sent again: it stays charging and is reported as
// needing a person.
func TestStripeKeyWindow(t *testing.T) {
	e := newEnv(t, rails{stripe: true})
	e.stripePayer("op_old", "pm_card_visa")
	e.use("op_old", 0, "pub", "a.example", "USD", 1_000_000)
	e.clock.Set(e.closeTime(0))
	hook, _ := crashAt(settle.FaultAfterCharging)
	if _, err := e.settler(hooks{settler: hook}).RunOnce(e.ctx); !errors.Is(err, settle.ErrInjected) {
		t.Fatalf("crash: %v", err)
	}
	e.clock.Advance(23*time.Hour + time.Minute)
	rep, err := e.settler(hooks{}).RunOnce(e.ctx)
	if !errors.Is(err, settle.ErrStuck) {
		t.Fatalf("RunOnce = %v, want ErrStuck", err)
	}
	id := ledger.InvoiceID("op_old", e.day(0), "USD")
	res := rep.Days[len(rep.Days)-1].Charge.Results
	if len(res) != 1 || !res[0].Stuck || res[0].Status != ledger.StatusCharging || !strings.Contains(res[0].Error, id) {
		t.Fatalf("results %+v", res)
	}
	if inv := e.invoice(id); inv.Status != ledger.StatusCharging || len(e.intents(id)) != 0 {
		t.Fatalf("invoice %s, intents %v", inv.Status, e.intents(id))
	}
}

// TestResumeChargesThePayerOfTheAttempt: a crash leaves an attempt
// charging; the crawler then changes its billing profile. The resumed
// attempt still charges the customer and payment method it started with:
// the same request, under the same key.
func TestResumeChargesThePayerOfTheAttempt(t *testing.T) {
	e := newEnv(t, rails{stripe: true})
	e.stripePayer("op_moving", "pm_card_visa")
	e.use("op_moving", 0, "pub", "a.example", "USD", 3_000_000)
	e.clock.Set(e.closeTime(0))
	hook, _ := crashAt(settle.FaultBeforeStripeCall)
	if _, err := e.settler(hooks{stripe: hook}).RunOnce(e.ctx); !errors.Is(err, settle.ErrInjected) {
		t.Fatalf("crash: %v", err)
	}
	e.payers.set(settle.Payer{Account: "op_moving", Rail: stripe.Name, StripeCustomerID: "cus_elsewhere", Currency: "USD"})
	e.proxy.SetDefaultPaymentMethod("cus_op_moving", "pm_card_chargeDeclined")
	mustRun(t, e.settler(hooks{}), e.ctx)
	inv := e.invoice(ledger.InvoiceID("op_moving", e.day(0), "USD"))
	e.assertStripeOnce(inv)
	in := e.intents(inv.ID)[0]
	if in.Customer != "cus_op_moving" || in.PaymentMethod != "pm_card_visa" {
		t.Fatalf("the resumed attempt charged %s with %s", in.Customer, in.PaymentMethod)
	}
}
