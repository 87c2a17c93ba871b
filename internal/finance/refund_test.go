package finance_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/internal/testlog"
	"github.com/paycrawl/paycrawl/internal/teststripe"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/stripe"
)

// withStripe gives the world's settler the stripe rail on stripe-mock
// (behind the recording proxy) and serves the finance server anew.
func (w *world) withStripe() (*stripe.Rail, *teststripe.Proxy) {
	w.t.Helper()
	base, proxy := teststripe.StartProxy(w.t)
	rail, err := stripe.New(stripe.Config{APIKey: teststripe.APIKey, BaseURL: base, Now: w.clock.Now, MaxNetworkRetries: -1})
	if err != nil {
		w.t.Fatal(err)
	}
	w.s, err = settle.New(settle.Options{Ledger: w.l, Payers: noPayers{}, Rails: []settle.Rail{rail}, Config: w.cfg,
		Now: w.clock.Now, Logger: testlog.New()})
	if err != nil {
		w.t.Fatal(err)
	}
	w.srv = w.server(w.fcfg)
	w.ts = httptest.NewServer(w.srv.Handler())
	w.t.Cleanup(w.ts.Close)
	return rail, proxy
}

// paidOnStripe drives invoice id to paid by a real PaymentIntent of
// stripe-mock for its total.
func (w *world) paidOnStripe(rail *stripe.Rail, id string) {
	w.t.Helper()
	inv := w.invoice(id)
	inv.Status = ledger.StatusCharging
	o, err := rail.Charge(context.Background(), &settle.ChargeRequest{Invoice: inv, Attempt: 1, Started: w.clock.Now(),
		Payer:  settle.Payer{Account: inv.Account, Rail: stripe.Name, StripeCustomerID: "cus_" + inv.Account, Currency: "USD"},
		Record: func(context.Context, ledger.Settlement, ledger.Attempt) error { return nil }})
	if err != nil || o.Status != ledger.StatusPaid {
		w.t.Fatalf("charge on stripe-mock: %+v, %v", o, err)
	}
	w.drive(id, ledger.StatusPaid, ledger.Settlement{PaymentIntent: o.Settlement.PaymentIntent, Charged: inv.Total})
}

// TestAPIRefund: POST /v1/invoices/{id}/refund refunds part of a paid
// invoice, then the rest, on stripe-mock; each refund is in the invoice's
// refunds and history; viewers get 403; an unpaid invoice, an amount above
// what is left, a bad amount and a missing reason are coded 4xx that change
// nothing.
func TestAPIRefund(t *testing.T) {
	w := newWorld(t)
	rail, proxy := w.withStripe()
	w.use("op_paid", "pub_news", "news.example", "USD", 1_000_000, 500_000)
	w.use("op_draft", "pub_news", "news.example", "USD", 1_000_000)
	w.close()
	paid, draft := w.id("op_paid", "USD"), w.id("op_draft", "USD")
	w.paidOnStripe(rail, paid)
	path := "/v1/invoices/" + paid + "/refund"
	if res := decode[wire.Invoice](t, mustGet(t, w, "/v1/invoices/"+paid)); !has(res.Actions, "refund") || res.Refundable != "1.50" {
		t.Fatalf("paid invoice: actions %v, refundable %s", res.Actions, res.Refundable)
	}
	refusals := []struct {
		name, path, token string
		body              any
		status            int
		code, message     string
	}{
		{"viewer", path, victorToken, wire.RefundRequest{Amount: "0.10", Reason: "r"}, 403, "", ""},
		{"no token", path, "", wire.RefundRequest{Amount: "0.10", Reason: "r"}, 401, "", ""},
		{"no reason", path, aliceToken, wire.RefundRequest{Amount: "0.10"}, 400, "invalid_request", "a reason is required to refund"},
		{"not a number", path, aliceToken, wire.RefundRequest{Amount: "ten", Reason: "r"}, 400, "invalid_request", "want a decimal amount"},
		{"zero", path, aliceToken, wire.RefundRequest{Amount: "0", Reason: "r"}, 400, "invalid_request", "want more than 0"},
		{"negative", path, aliceToken, wire.RefundRequest{Amount: "-0.10", Reason: "r"}, 400, "invalid_request", ""},
		{"part of a cent", path, aliceToken, wire.RefundRequest{Amount: "0.001", Reason: "r"}, 400, "invalid_request", "whole cents"},
		{"above the charge", path, aliceToken, wire.RefundRequest{Amount: "1.51", Reason: "r"}, 409, "refund_exceeds", "above the 1.50 USD left to refund"},
		{"unpaid", "/v1/invoices/" + draft + "/refund", aliceToken, wire.RefundRequest{Reason: "r"}, 409, "wrong_status", "is draft: cannot refund"},
		{"unknown", "/v1/invoices/" + w.id("op_nobody", "USD") + "/refund", aliceToken, wire.RefundRequest{Reason: "r"}, 404, "not_found", ""},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			status, body := w.call("POST", r.path, r.token, r.body)
			e := decode[apiError](t, body)
			if status != r.status || r.code != "" && e.Code != r.code || !strings.Contains(e.Message, r.message) {
				t.Fatalf("%d %s, want %d %s %q", status, body, r.status, r.code, r.message)
			}
		})
	}
	if inv := w.invoice(paid); len(inv.Refunds) != 0 || len(proxy.Refunds()) != 0 {
		t.Fatalf("a refusal refunded: %+v", inv.Refunds)
	}
	status, body := w.call("POST", path, aliceToken, wire.RefundRequest{Amount: "0.40", Reason: "crawled a paywall"})
	res := decode[wire.ActionResult](t, body)
	if status != 200 || !res.Changed || res.Action != "refund" || res.Invoice.RefundState != "partially_refunded" ||
		res.Invoice.Refunded != "0.40" || res.Invoice.Refundable != "1.10" || len(res.Invoice.Refunds) != 1 ||
		res.Invoice.Refunds[0].Status != "done" || !strings.HasPrefix(res.Invoice.Refunds[0].Reference, "re_") ||
		!strings.HasPrefix(res.Message, "Refunded 0.40 USD of "+paid) {
		t.Fatalf("%d %s", status, body)
	}
	status, body = w.call("POST", path, aliceToken, wire.RefundRequest{Reason: "the rest"})
	res = decode[wire.ActionResult](t, body)
	if status != 200 || res.Invoice.RefundState != "refunded" || res.Invoice.Refunded != "1.50" || res.Invoice.Status != "paid" ||
		has(res.Invoice.Actions, "refund") {
		t.Fatalf("%d %s", status, body)
	}
	var events []string
	for _, e := range res.Invoice.History {
		if e.Kind == "refund" {
			events = append(events, e.RefundStatus+" "+e.Amount+" "+e.Actor)
		}
	}
	if strings.Join(events, ",") != "pending 0.40 alice,done 0.40 settler,pending 1.10 alice,done 1.10 settler" {
		t.Errorf("refund history %v", events)
	}
	if rf := proxy.Refunds(); len(rf) != 2 || rf[0].Amount != 40 || rf[1].Amount != 110 {
		t.Errorf("Stripe refunds %+v", rf)
	}
	status, body = w.call("POST", path, aliceToken, wire.RefundRequest{Reason: "again"})
	if e := decode[apiError](t, body); status != 409 || e.Code != "refund_exceeds" {
		t.Fatalf("%d %s", status, body)
	}
}

func mustGet(t *testing.T, w *world, path string) []byte {
	t.Helper()
	status, body := w.call("GET", path, aliceToken, nil)
	if status != 200 {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	return body
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestWebRefundRefusals: the page's refund form refuses a viewer (403), a
// missing reason and a bad amount (400), more than is left and an unpaid
// invoice (409), each with a sentence and nothing refunded; the
// confirmation step carries the amount on, exactly.
func TestWebRefundRefusals(t *testing.T) {
	w := newWorld(t)
	rail, proxy := w.withStripe()
	w.use("op_paid", "pub_news", "news.example", "USD", 1_000_000)
	w.use("op_draft", "pub_news", "news.example", "USD", 1_000_000)
	w.close()
	w.paidOnStripe(rail, w.id("op_paid", "USD"))
	page := "/invoices/" + w.id("op_paid", "USD")
	viewer := w.person()
	viewer.login(victorToken)
	vcsrf := viewer.csrf(page)
	if resp, _ := viewer.do("POST", page+"/refund", url.Values{"csrf": {vcsrf}, "reason": {"x"}, "confirm": {"yes"}}); resp.StatusCode != 403 {
		t.Fatalf("viewer: %d", resp.StatusCode)
	}
	p := w.person()
	p.login(aliceToken)
	csrf := p.csrf(page)
	if _, body := p.do("GET", page, nil); !strings.Contains(body, `<label class="label" for="refund-amount">`) || !strings.Contains(body, `id="refund-reason"`) {
		t.Fatalf("no labelled refund form:\n%s", body)
	}
	tests := []struct {
		name, page string
		form       url.Values
		status     int
		has        string
	}{
		{"no reason", page, url.Values{"amount": {"0.10"}}, 400, "A reason is required to refund"},
		{"bad amount", page, url.Values{"amount": {"ten"}, "reason": {"x"}}, 400, "The refund must be an amount above 0"},
		{"zero", page, url.Values{"amount": {"0"}, "reason": {"x"}}, 400, "The refund must be an amount above 0"},
		{"above what is left", page, url.Values{"amount": {"1.01"}, "reason": {"x"}}, 409, "is above the USD\u00a01.00 left to refund"},
		{"above, confirmed", page, url.Values{"amount": {"1.01"}, "reason": {"x"}, "confirm": {"yes"}}, 409, "above the 1.00 USD left to refund"},
		{"unpaid", "/invoices/" + w.id("op_draft", "USD"), url.Values{"reason": {"x"}, "confirm": {"yes"}}, 409, "is draft: cannot refund"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.form.Set("csrf", csrf)
			resp, body := p.do("POST", tt.page+"/refund", tt.form)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.has) {
				t.Fatalf("%d, want %d with %q\n%s", resp.StatusCode, tt.status, tt.has, body)
			}
		})
	}
	if len(proxy.Refunds()) != 0 || len(w.invoice(w.id("op_paid", "USD")).Refunds) != 0 {
		t.Fatal("a refusal refunded")
	}
	resp, body := p.do("POST", page+"/refund", url.Values{"csrf": {csrf}, "amount": {"0.250"}, "reason": {"goodwill"}})
	if resp.StatusCode != 200 || !strings.Contains(body, `name="amount" value="0.25"`) || !strings.Contains(body, "Confirm: refund") {
		t.Fatalf("confirmation: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = p.do("POST", page+"/refund", url.Values{"csrf": {csrf}, "amount": {"0.25"}, "reason": {"goodwill"}, "confirm": {"yes"}})
	if resp.StatusCode != http.StatusSeeOther || len(proxy.Refunds()) != 1 || proxy.Refunds()[0].Amount != 25 {
		t.Fatalf("refund: %d, Stripe %+v", resp.StatusCode, proxy.Refunds())
	}
}
