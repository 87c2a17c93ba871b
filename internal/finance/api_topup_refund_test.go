package finance_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/internal/testlog"
	"github.com/paycrawl/paycrawl/internal/teststripe"
	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/stripe"
)

// prepaidServer is the world's finance server with op_prep's accepted
// prepaid agreement agr_prep and the stripe rail on stripe-mock.
func prepaidServer(t *testing.T) (*world, *teststripe.Proxy) {
	w, proxy, _ := prepaidWorld(t)
	w.srv = w.server(w.fcfg)
	w.ts = httptest.NewServer(w.srv.Handler())
	t.Cleanup(w.ts.Close)
	return w, proxy
}

// prepaidWorld is the world with the settler of prepaidServer (op_prep's
// prepaid agr_prep, the stripe rail on stripe-mock), and no server yet.
func prepaidWorld(t *testing.T) (*world, *teststripe.Proxy, *stripe.Rail) {
	w := newWorld(t)
	base, proxy := teststripe.StartProxy(t)
	proxy.SetDefaultPaymentMethod("cus_op_prep", "pm_card_visa")
	rail, err := stripe.New(stripe.Config{APIKey: teststripe.APIKey, BaseURL: base, Now: w.clock.Now, MaxNetworkRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	from := w.base.Add(-24 * time.Hour)
	arr := prepaidArrangements{agreement.Agreement{ID: "agr_prep", Version: 1, Publisher: "pub_news", Account: "op_prep", Currency: "USD",
		Scope: []agreement.Site{{Host: "news.example"}}, ValidFrom: from,
		Terms: agreement.Terms{Kind: agreement.KindPrepaid, Prepaid: &agreement.Prepaid{Amount: 5_000_000}},
		State: agreement.StateAccepted, OfferedAt: from, DecidedAt: from, Acceptance: &agreement.Acceptance{KeyID: "k", SignedAt: from}}}
	if w.s, err = settle.New(settle.Options{Ledger: w.l, Payers: stripePayers{}, Rails: []settle.Rail{rail}, Config: w.cfg,
		Arrangements: arr, Now: w.clock.Now, Logger: testlog.New()}); err != nil {
		t.Fatal(err)
	}
	return w, proxy, rail
}

// draw appends a request of op_prep drawing d from agr_prep's balance, as
// the gateway does, and returns the ledger's refusal, if any.
func (w *world) draw(d money.Micros) error {
	w.t.Helper()
	c := w.commitment(nil, "op_prep", "pub_news", "news.example", "USD", 0, nil)
	c.AgreementID, c.AgreementVersion, c.ListPrice, c.Charge, c.Drawn = "agr_prep", 1, d, ledger.ChargePrepaid, d
	_, err := w.l.Append(w.ctx, c, ledger.Limits{})
	return err
}

// TestAPITopUpRefund: POST /v1/invoices/{id}/refund of a top-up refunds
// its unspent credit only. A part is 409 topup_spent naming what may be
// refunded, with nothing changed; all of it is refunded in whole cents,
// taken from the balance, with a warning saying what was spent; a top-up
// drawn to 0 is 409 topup_spent.
func TestAPITopUpRefund(t *testing.T) {
	w, proxy := prepaidServer(t)
	buy := func(id string) string {
		t.Helper()
		status, body := w.call("POST", "/v1/topups", aliceToken, wire.TopUpRequest{ID: id, Account: "op_prep", Agreement: "agr_prep", Amount: "5.00", Reason: "r"})
		if status != 200 {
			t.Fatalf("top-up: %d %s", status, body)
		}
		return decode[wire.TopUpResult](t, body).Invoice.ID
	}
	balance := func() money.Micros {
		t.Helper()
		b, err := w.l.PrepaidBalance(w.ctx, "op_prep", "agr_prep")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	id := buy("t1")
	if err := w.draw(1_234_567); err != nil {
		t.Fatal(err)
	}
	// The invoice says what a refund may give back: the unspent credit in
	// whole cents, not the price.
	view := func(id string) wire.Invoice {
		t.Helper()
		status, body := w.call("GET", "/v1/invoices/"+id, aliceToken, nil)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", id, status, body)
		}
		return decode[wire.Invoice](t, body)
	}
	if v := view(id); v.Refundable != "3.76" || !slices.Contains(v.Actions, "refund") {
		t.Fatalf("the top-up's invoice: refundable %s, actions %v; want 3.76 and refund", v.Refundable, v.Actions)
	}
	path := "/v1/invoices/" + id + "/refund"
	status, body := w.call("POST", path, aliceToken, wire.RefundRequest{Amount: "1.00", Reason: "r"})
	if e := decode[apiError](t, body); status != 409 || e.Code != "topup_spent" || !strings.Contains(e.Message, "3.76 USD of its 5.00 USD") {
		t.Fatalf("a refund in part: %d %s", status, body)
	}
	if len(proxy.Refunds()) != 0 || balance() != 3_765_433 || len(w.invoice(id).Refunds) != 0 {
		t.Fatalf("the refusal changed something: balance %s", balance())
	}
	status, body = w.call("POST", path, aliceToken, wire.RefundRequest{Reason: "the operator left"})
	res := decode[wire.ActionResult](t, body)
	if status != 200 || res.Invoice.Refunded != "3.76" || !strings.Contains(res.Message, "Refunded 3.76 USD") ||
		!strings.Contains(res.Warning, "1.24 USD of it was spent on requests already served") {
		t.Fatalf("the refund: %d %s", status, body)
	}
	if rfs := proxy.Refunds(); len(rfs) != 1 || rfs[0].Amount != 376 || balance() != 5_433 {
		t.Fatalf("Stripe refunds %+v, balance %s", rfs, balance())
	}
	if err := w.draw(5_434); err == nil {
		t.Fatal("a draw above what the refund left was served")
	}
	// A top-up drawn to 0.
	id2 := buy("t2")
	if err := w.draw(5_005_433); err != nil {
		t.Fatal(err)
	}
	status, body = w.call("POST", "/v1/invoices/"+id2+"/refund", aliceToken, wire.RefundRequest{Reason: "r"})
	if e := decode[apiError](t, body); status != 409 || e.Code != "topup_spent" || !strings.Contains(e.Message, "all spent on requests already served") {
		t.Fatalf("a spent top-up: %d %s", status, body)
	}
	if v := view(id2); v.Refundable != "0.00" || slices.Contains(v.Actions, "refund") {
		t.Errorf("the spent top-up's invoice: refundable %s, actions %v; want 0.00 and no refund", v.Refundable, v.Actions)
	}
	if v := view(id); v.Refundable != "0.00" || slices.Contains(v.Actions, "refund") {
		t.Errorf("the refunded top-up's invoice: refundable %s, actions %v; want 0.00 and no refund", v.Refundable, v.Actions)
	}
	if len(proxy.Refunds()) != 1 {
		t.Fatal("a spent top-up was refunded on Stripe")
	}
}

// TestWebTopUpRefund: on the invoice page a refund of a top-up with no
// amount proposes its unspent credit (3.76 of 5.00), not its price; once
// confirmed it refunds that, and the page says what was drawn and is not
// refunded; a top-up drawn to 0 is refused with the reason.
func TestWebTopUpRefund(t *testing.T) {
	w, proxy := prepaidServer(t)
	status, body := w.call("POST", "/v1/topups", aliceToken, wire.TopUpRequest{ID: "w1", Account: "op_prep", Agreement: "agr_prep", Amount: "5.00", Reason: "r"})
	if status != 200 {
		t.Fatalf("top-up: %d %s", status, body)
	}
	id := decode[wire.TopUpResult](t, body).Invoice.ID
	if err := w.draw(1_234_567); err != nil {
		t.Fatal(err)
	}
	p := w.person()
	p.login(aliceToken)
	page := "/invoices/" + id
	csrf := p.csrf(page)
	resp, html := p.do("POST", page+"/refund", url.Values{"csrf": {csrf}, "reason": {"the operator left"}})
	if resp.StatusCode != 200 || !strings.Contains(html, `name="amount" value="3.76"`) || !strings.Contains(html, "taken back from the crawler&#39;s prepaid balance first") {
		t.Fatalf("confirmation: %d\n%s", resp.StatusCode, html)
	}
	resp, _ = p.do("POST", page+"/refund", url.Values{"csrf": {csrf}, "reason": {"the operator left"}, "amount": {"3.76"}, "confirm": {"yes"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != page+"?done=refund&changed=1" {
		t.Fatalf("refund: %d %v", resp.StatusCode, resp.Header)
	}
	_, html = p.do("GET", resp.Header.Get("Location"), nil)
	if !strings.Contains(html, "The top-up&#39;s credit that requests drew (USD\u00a01.24) is not refunded.") || strings.Contains(html, "has not given its outcome") {
		t.Fatalf("after the refund:\n%s", html)
	}
	if rfs := proxy.Refunds(); len(rfs) != 1 || rfs[0].Amount != 376 {
		t.Fatalf("Stripe refunds %+v", rfs)
	}
	// Drawn to 0: refused with why, nothing refunded.
	status, body = w.call("POST", "/v1/topups", aliceToken, wire.TopUpRequest{ID: "w2", Account: "op_prep", Agreement: "agr_prep", Amount: "5.00", Reason: "r"})
	if status != 200 {
		t.Fatalf("top-up: %d %s", status, body)
	}
	id2 := decode[wire.TopUpResult](t, body).Invoice.ID
	if err := w.draw(5_005_433); err != nil {
		t.Fatal(err)
	}
	resp, html = p.do("POST", "/invoices/"+id2+"/refund", url.Values{"csrf": {p.csrf("/invoices/" + id2)}, "reason": {"r"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(html, "all spent on requests already served") {
		t.Fatalf("a spent top-up: %d\n%s", resp.StatusCode, html)
	}
	if len(proxy.Refunds()) != 1 {
		t.Fatal("a spent top-up was refunded")
	}
}
