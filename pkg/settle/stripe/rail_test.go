package stripe

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/teststripe"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// request returns a charge request whose Record keeps notes on the invoice,
// numbered, as the ledger does.
func request(inv *ledger.Invoice, attempt int64, started time.Time, payer settle.Payer) *settle.ChargeRequest {
	return &settle.ChargeRequest{Invoice: inv, Attempt: attempt, Started: started, Payer: payer,
		Record: func(_ context.Context, _ ledger.Settlement, note ledger.Attempt) error {
			note.Number, note.Rail = attempt, Name
			inv.Attempts = append(inv.Attempts, note)
			return nil
		}}
}

func invoice(account string, total money.Micros) *ledger.Invoice {
	return &ledger.Invoice{ID: ledger.InvoiceID(account, "2026-11-20", "USD"), Account: account, Day: "2026-11-20",
		Currency: "USD", Status: ledger.StatusCharging, Total: total}
}

// TestChargeOutcomes charges against stripe-mock behind the recording proxy
// with each of Stripe's test payment methods and checks the mapping to
// paid, pending and failed with the decline code.
func TestChargeOutcomes(t *testing.T) {
	base, proxy := teststripe.StartProxy(t)
	now := time.Now()
	r, err := New(Config{APIKey: teststripe.APIKey, BaseURL: base, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pm      string
		total   money.Micros
		status  ledger.Status
		detail  string
		charged money.Micros
		carried money.Micros
		errHas  string
	}{
		{"pm_card_visa", 1_234_567, ledger.StatusPaid, "succeeded", 1_230_000, 4_567, ""},
		{"pm_card_visa", 500_000, ledger.StatusPaid, "succeeded", 500_000, 0, ""},
		{"pm_card_chargeDeclined", 1_000_000, ledger.StatusFailed, "generic_decline", 0, 0, "card declined: generic_decline (card_declined)"},
		{"pm_card_chargeDeclinedInsufficientFunds", 1_000_000, ledger.StatusFailed, "insufficient_funds", 0, 0, "insufficient_funds"},
		{"pm_card_chargeDeclinedExpiredCard", 1_000_000, ledger.StatusFailed, "expired_card", 0, 0, "expired_card"},
		{"pm_card_authenticationRequired", 1_000_000, ledger.StatusPending, "requires_action", 0, 0, ""},
		{"pm_card_processing", 1_000_000, ledger.StatusPending, "processing", 0, 0, ""},
		{"pm_card_visa", 499_999, ledger.StatusCarried, "below_minimum", 0, 499_999, "below the minimum charge of 0.50 USD"},
	}
	for i, tt := range tests {
		t.Run(tt.pm, func(t *testing.T) {
			account := "op_" + strings.Repeat("x", i+1)
			proxy.SetDefaultPaymentMethod("cus_"+account, tt.pm)
			inv := invoice(account, tt.total)
			o, err := r.Charge(context.Background(), request(inv, 1, now, settle.Payer{Account: account, Rail: Name, StripeCustomerID: "cus_" + account}))
			if err != nil {
				t.Fatal(err)
			}
			if o.Status != tt.status || o.Detail != tt.detail || o.Settlement.Charged != tt.charged || o.Settlement.CarriedOut != tt.carried ||
				!strings.Contains(o.Reason, tt.errHas) {
				t.Fatalf("outcome = %+v", o)
			}
			key := IdempotencyKey(inv.ID, 1)
			if tt.status == ledger.StatusCarried {
				if proxy.Requests(key) != 0 {
					t.Errorf("a carried invoice reached Stripe")
				}
				return
			}
			if proxy.Requests(key) != 1 || o.Settlement.PaymentIntent == "" {
				t.Errorf("requests under %s = %d, pi %q", key, proxy.Requests(key), o.Settlement.PaymentIntent)
			}
			if tt.status == ledger.StatusFailed && o.Settlement.Error != o.Reason {
				t.Errorf("failure without error field: %+v", o)
			}
		})
	}
}

// TestChargeIsIdempotentPerAttempt: calling Charge again for the same
// attempt replays Stripe's answer (one intent); the next attempt uses a new
// key.
func TestChargeIsIdempotentPerAttempt(t *testing.T) {
	base, proxy := teststripe.StartProxy(t)
	r, err := New(Config{APIKey: teststripe.APIKey, BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	inv := invoice("op_same", 2_000_000)
	req := request(inv, 1, time.Now(), settle.Payer{StripeCustomerID: "cus_same"})
	var pis []string
	for i := 0; i < 3; i++ {
		o, err := r.Charge(context.Background(), req)
		if err != nil || o.Status != ledger.StatusPaid {
			t.Fatalf("Charge #%d = %+v, %v", i, o, err)
		}
		pis = append(pis, o.Settlement.PaymentIntent)
	}
	if pis[0] != pis[1] || pis[1] != pis[2] || len(proxy.Intents()) != 1 || proxy.Requests(IdempotencyKey(inv.ID, 1)) != 3 {
		t.Fatalf("intents %v, %d kept, %d requests", pis, len(proxy.Intents()), proxy.Requests(IdempotencyKey(inv.ID, 1)))
	}
	// The customer's default payment method changes before a resume: the
	// resumed call still sends the noted one (same parameters, same key).
	proxy.SetDefaultPaymentMethod("cus_same", "pm_card_chargeDeclined")
	o, err := r.Charge(context.Background(), req)
	if err != nil || o.Status != ledger.StatusPaid || o.Settlement.PaymentIntent != pis[0] {
		t.Fatalf("resume after the default changed = %+v, %v", o, err)
	}
	if len(inv.Attempts) != 1 || inv.Attempts[0].Outcome != OutcomeRequested || inv.Attempts[0].Reference != "pm_card_visa" {
		t.Fatalf("notes = %+v", inv.Attempts)
	}
	if got := IdempotencyKey(inv.ID, 2); got != "paycrawl-"+inv.ID+"-a2" {
		t.Errorf("key of attempt 2 = %s", got)
	}
}

// TestStatusFollowsTheIntent: a processing intent that later succeeds or
// fails is reconciled by Status.
func TestStatusFollowsTheIntent(t *testing.T) {
	base, proxy := teststripe.StartProxy(t)
	r, err := New(Config{APIKey: teststripe.APIKey, BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		later  string
		status ledger.Status
	}{
		{"processing", ledger.StatusPending},
		{"succeeded", ledger.StatusPaid},
		{"requires_payment_method", ledger.StatusFailed},
		{"canceled", ledger.StatusFailed},
	} {
		t.Run(tt.later, func(t *testing.T) {
			account := "op_" + tt.later
			proxy.SetDefaultPaymentMethod("cus_"+account, "pm_card_processing")
			inv := invoice(account, 1_000_001)
			o, err := r.Charge(context.Background(), request(inv, 1, time.Now(), settle.Payer{StripeCustomerID: "cus_" + account}))
			if err != nil || o.Status != ledger.StatusPending {
				t.Fatalf("Charge = %+v, %v", o, err)
			}
			proxy.SetIntentStatus(o.Settlement.PaymentIntent, tt.later)
			inv.PaymentIntent = o.Settlement.PaymentIntent
			got, err := r.Status(context.Background(), inv, settle.Payer{})
			if err != nil || got.Status != tt.status || got.Settlement.PaymentIntent != inv.PaymentIntent {
				t.Fatalf("Status = %+v, %v", got, err)
			}
			if tt.status == ledger.StatusPaid && (got.Settlement.Charged != 1_000_000 || got.Settlement.CarriedOut != 1) {
				t.Errorf("paid amounts: %+v", got.Settlement)
			}
		})
	}
	if _, err := r.Status(context.Background(), invoice("op_none", 1), settle.Payer{}); err == nil {
		t.Error("Status without a PaymentIntent succeeded")
	}
}

// TestChargeRefusals: what fails without money moving, and what is refused
// as unknown.
func TestChargeRefusals(t *testing.T) {
	base, proxy := teststripe.StartProxy(t)
	now := time.Now()
	r, err := New(Config{APIKey: teststripe.APIKey, BaseURL: base, Now: func() time.Time { return now }, MaxNetworkRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	proxy.SetDefaultPaymentMethod("cus_nopm", "")
	usdc := invoice("op_usdc", 1_000_000)
	usdc.Currency = "USDC"
	tests := []struct {
		name    string
		inv     *ledger.Invoice
		payer   settle.Payer
		started time.Time
		status  ledger.Status
		err     error
		has     string
	}{
		{"no customer", invoice("op_a", 1_000_000), settle.Payer{}, now, ledger.StatusFailed, nil, "has no Stripe customer"},
		{"no default payment method", invoice("op_b", 1_000_000), settle.Payer{StripeCustomerID: "cus_nopm"}, now, ledger.StatusFailed, nil, "no default payment method"},
		{"not an ISO currency", usdc, settle.Payer{StripeCustomerID: "cus_c"}, now, ledger.StatusFailed, nil, "ISO currencies"},
		{"idempotency key about to expire", invoice("op_d", 1_000_000), settle.Payer{StripeCustomerID: "cus_d"},
			now.Add(-23*time.Hour - time.Minute), "", settle.ErrStuck, "beyond the 23h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := r.Charge(context.Background(), request(tt.inv, 1, tt.started, tt.payer))
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.has) {
					t.Fatalf("Charge error = %v, want %v containing %q", err, tt.err, tt.has)
				}
			} else if err != nil || o.Status != tt.status || !strings.Contains(o.Reason, tt.has) {
				t.Fatalf("Charge = %+v, %v", o, err)
			}
			if n := proxy.Requests(IdempotencyKey(tt.inv.ID, 1)); n != 0 {
				t.Errorf("%d PaymentIntent requests sent", n)
			}
		})
	}
	// A Stripe that cannot be reached is an unknown outcome, not a failure.
	down, err := New(Config{APIKey: teststripe.APIKey, BaseURL: "http://127.0.0.1:1", MaxNetworkRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if o, err := down.Charge(context.Background(), request(invoice("op_e", 1_000_000), 1, time.Now(), settle.Payer{StripeCustomerID: "cus_e"})); err == nil {
		t.Fatalf("Charge against a dead Stripe = %+v, want an error", o)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without an API key succeeded")
	}
}
