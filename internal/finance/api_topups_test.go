package finance_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/stripe"
)

// prepaidArrangements: every account is daily; op_prep has the accepted
// prepaid agreement agr_prep.
type prepaidArrangements struct{ a agreement.Agreement }

func (p prepaidArrangements) Cadence(context.Context, string) (agreement.Cadence, time.Time, error) {
	return agreement.CadenceDay, time.Time{}, nil
}

func (p prepaidArrangements) Agreements(_ context.Context, account string) ([]agreement.Agreement, error) {
	if account == p.a.Account {
		return []agreement.Agreement{p.a}, nil
	}
	return nil, nil
}

func (p prepaidArrangements) Accounts(context.Context, agreement.Span, agreement.Kind) ([]string, error) {
	return nil, nil // the run buys no top-up by itself here
}

// stripePayers bills every account on the stripe rail as customer
// "cus_<account>".
type stripePayers struct{}

func (stripePayers) Payer(_ context.Context, account string) (settle.Payer, error) {
	return settle.Payer{Account: account, Rail: stripe.Name, StripeCustomerID: "cus_" + account, Currency: "USD"}, nil
}

// TestAPITopUp: POST /v1/topups buys prepaid credit on stripe-mock and
// credits it once paid, with the finance token's name in the invoice's
// history; the same id again is the same top-up, charged once; viewers,
// missing fields, bad amounts, another agreement and a reused id are coded
// 4xx that charge nothing.
func TestAPITopUp(t *testing.T) {
	w, proxy := prepaidServer(t)

	ok := wire.TopUpRequest{ID: "ticket42", Account: "op_prep", Agreement: "agr_prep", Amount: "12.00", Reason: "asked by mail"}
	with := func(f func(*wire.TopUpRequest)) wire.TopUpRequest { r := ok; f(&r); return r }
	refusals := []struct {
		name, token   string
		body          any
		status        int
		code, message string
	}{
		{"viewer", victorToken, ok, 403, "", ""},
		{"no token", "", ok, 401, "", ""},
		{"no id", aliceToken, with(func(r *wire.TopUpRequest) { r.ID = "" }), 400, "invalid_request", "id is required"},
		{"bad id", aliceToken, with(func(r *wire.TopUpRequest) { r.ID = "Ticket-42" }), 400, "invalid_request", "lower-case letters and digits"},
		{"no account", aliceToken, with(func(r *wire.TopUpRequest) { r.Account = "" }), 400, "invalid_request", "account and agreement are required"},
		{"not a number", aliceToken, with(func(r *wire.TopUpRequest) { r.Amount = "ten" }), 400, "invalid_request", "want a decimal amount"},
		{"zero", aliceToken, with(func(r *wire.TopUpRequest) { r.Amount = "0" }), 400, "invalid_request", "want more than 0"},
		{"part of a cent", aliceToken, with(func(r *wire.TopUpRequest) { r.Amount = "10.001" }), 400, "invalid_request", "whole cents"},
		{"another agreement", aliceToken, with(func(r *wire.TopUpRequest) { r.Agreement = "agr_other" }), 409, "no_prepaid_agreement", "agr_other"},
		{"another account", aliceToken, with(func(r *wire.TopUpRequest) { r.Account = "op_other" }), 409, "no_prepaid_agreement", ""},
		{"unknown field", aliceToken, map[string]string{"id": "x1", "account": "op_prep", "agreement": "agr_prep", "price": "1"}, 400, "", ""},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			status, body := w.call("POST", "/v1/topups", r.token, r.body)
			e := decode[apiError](t, body)
			if status != r.status || r.code != "" && e.Code != r.code || !strings.Contains(e.Message, r.message) {
				t.Fatalf("%d %s, want %d %s %q", status, body, r.status, r.code, r.message)
			}
		})
	}
	if n := len(proxy.Intents()); n != 0 {
		t.Fatalf("the refusals made %d PaymentIntents", n)
	}

	id := ledger.TopUpInvoiceID("op_prep", w.day, "ticket42", "USD")
	for i, want := range []bool{true, false} {
		status, body := w.call("POST", "/v1/topups", aliceToken, ok)
		res := decode[wire.TopUpResult](t, body)
		if status != 200 || res.Created != want || res.Balance != "12.00" || res.Invoice.ID != id || res.Invoice.Status != "paid" ||
			res.Invoice.Charged != "12.00" || len(res.Invoice.Lines) != 1 || res.Invoice.Lines[0].Kind != "topup" ||
			res.Invoice.Lines[0].AgreementID != "agr_prep" || !strings.Contains(res.Message, "paid and credited") {
			t.Fatalf("order %d: %d %s", i+1, status, body)
		}
		if h := res.Invoice.History[0]; h.Actor != "alice" || !strings.Contains(h.Reason, "asked by mail") {
			t.Fatalf("created by %q: %q", h.Actor, h.Reason)
		}
	}
	if n := len(proxy.Intents()); n != 1 {
		t.Fatalf("two orders of one id made %d PaymentIntents, want 1", n)
	}
	if b, err := w.l.PrepaidBalance(w.ctx, "op_prep", "agr_prep"); err != nil || b != 12_000_000 {
		t.Fatalf("balance %s, %v", b, err)
	}
	status, body := w.call("POST", "/v1/topups", aliceToken, with(func(r *wire.TopUpRequest) { r.Amount = "" }))
	if e := decode[apiError](t, body); status != 409 || e.Code != "topup_id_used" {
		t.Fatalf("the id again for the agreement's own 5.00: %d %s", status, body)
	}
}
