package finance_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance"
	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/internal/testlog"
	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// TestTopUpConflictIs409: a paid top-up whose credit the ledger holds at
// another amount than its invoice's (a record a person must reconcile): its
// refund is 409 topup_conflict, not a 500, and Stripe's chargeback event of
// it is acknowledged (200, with why) rather than failed for Stripe to retry
// for days; nothing moves either way.
func TestTopUpConflictIs409(t *testing.T) {
	w, _, rail := prepaidWorld(t)
	book, err := earnings.New(earnings.Options{Redis: w.rdb, Ledger: w.l, Fees: feeByPublisher{}})
	if err != nil {
		t.Fatal(err)
	}
	w.srv, err = finance.New(finance.Options{Ledger: w.l, Ops: w.s, Config: w.fcfg, Now: w.clock.Now, Logger: testlog.New(),
		Disputes: &settle.Disputes{Ledger: w.l, Book: book, Intents: rail, Logger: testlog.New()}, StripeWebhookSecret: stripeSecret})
	if err != nil {
		t.Fatal(err)
	}
	w.ts = httptest.NewServer(w.srv.Handler())
	t.Cleanup(w.ts.Close)

	status, body := w.call("POST", "/v1/topups", aliceToken, wire.TopUpRequest{ID: "c1", Account: "op_prep", Agreement: "agr_prep", Amount: "5.00", Reason: "r"})
	if status != 200 {
		t.Fatalf("top-up: %d %s", status, body)
	}
	inv := decode[wire.TopUpResult](t, body).Invoice
	// The ledger's record of the top-up's credit, at another amount.
	keys, err := w.rdb.Keys(w.ctx, "*ppt:agr_prep").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("ppt keys %v, %v", keys, err)
	}
	fields, err := w.rdb.HKeys(w.ctx, keys[0]).Result()
	if err != nil || len(fields) != 1 || !strings.HasSuffix(fields[0], ":c1") {
		t.Fatalf("ppt fields %v, %v", fields, err)
	}
	if err := w.rdb.HSet(w.ctx, keys[0], fields[0], "4000000").Err(); err != nil {
		t.Fatal(err)
	}
	balance := func() string {
		t.Helper()
		b, err := w.l.PrepaidBalance(w.ctx, "op_prep", "agr_prep")
		if err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	status, body = w.call("POST", "/v1/invoices/"+inv.ID+"/refund", aliceToken, wire.RefundRequest{Reason: "r"})
	if e := decode[apiError](t, body); status != 409 || e.Code != "topup_conflict" || balance() != "5.00" {
		t.Fatalf("refund of a conflicting top-up: %d %s, balance %s; want 409 topup_conflict", status, body, balance())
	}
	pi := w.invoice(inv.ID).PaymentIntent
	status, body = postStripe(t, w.ts.URL, stripeSecret, time.Now(), stripeEvent("evt_c1", "charge.dispute.funds_withdrawn", "dp_c1", pi, "needs_response", 500))
	if res := decode[finance.StripeEventResult](t, body); status != 200 || !res.Received || !strings.Contains(res.Ignored, "credited") || balance() != "5.00" {
		t.Fatalf("chargeback of a conflicting top-up: %d %s, balance %s; want 200 with why", status, body, balance())
	}
	if st, err := w.l.PrepaidTopUp(w.ctx, "op_prep", "agr_prep", fields[0]); err != nil || st.HeldBy != "" || st.Reversed {
		t.Fatalf("top-up state: %+v, %v", st, err)
	}
}
