package finance_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// TestBrowserRefund drives headless Chromium as a finance person: open a
// paid invoice (charged on stripe-mock), refund part of it with the
// labelled amount and reason through the confirmation step, see the refund
// in the settlement and the history, then refund the rest with the amount
// left empty; Stripe saw two refunds and the Refund action is gone.
func TestBrowserRefund(t *testing.T) {
	w := newWorld(t)
	rail, proxy := w.withStripe()
	w.use("op_paid", "pub_news", "news.example", "USD", 1_000_000, 500_000)
	w.close()
	id := w.id("op_paid", "USD")
	w.paidOnStripe(rail, id)

	exe := chromium(t)
	dir := t.TempDir()
	bctx := newBrowser(t, w.ctx, exe, dir, 760, 900)
	navigate(t, bctx, "the login page", chromedp.Navigate(w.ts.URL+"/"))
	navigate(t, bctx, "sign in", chromedp.SendKeys(chromedp.ID("token"), aliceToken), chromedp.Click(chromedp.ID("signin")))
	navigate(t, bctx, "open the invoice", chromedp.Navigate(w.ts.URL+"/invoices/"+id))
	// The refund form's inputs are labelled.
	if n := evalInt(t, bctx, `["refund-amount","refund-reason"].filter(id => document.querySelector('label[for="'+id+'"]')).length`); n != 2 {
		t.Fatalf("%d of the refund inputs have a label", n)
	}
	navigate(t, bctx, "refund part", chromedp.SendKeys(chromedp.ID("refund-amount"), "0.40"),
		chromedp.SendKeys(chromedp.ID("refund-reason"), "crawled a paywalled section by mistake"), chromedp.Click(chromedp.ID("refund")))
	confirm := textOf(t, bctx, chromedp.CSS("section.confirm"))
	if !strings.Contains(confirm, "Refund this invoice?") || !strings.Contains(confirm, "USD\u00a00.40") ||
		!strings.Contains(confirm, "goes back to the payer on the stripe rail") {
		t.Fatalf("confirmation step:\n%s", confirm)
	}
	if len(proxy.Refunds()) != 0 {
		t.Fatal("refunded before the confirmation")
	}
	shot(t, bctx, dir, "finance-refund-confirm.png")
	navigate(t, bctx, "confirm", chromedp.Click(chromedp.ID("confirm")))
	flash, history, refunded := textOf(t, bctx, chromedp.ID("flash")), textOf(t, bctx, chromedp.ID("history")), textOf(t, bctx, chromedp.ID("refunded"))
	shot(t, bctx, dir, "finance-refunded.png")
	if !strings.Contains(flash, "Refunded USD\u00a00.40 (re_") {
		t.Fatalf("flash %q", flash)
	}
	history, refunded = strings.ToLower(history), strings.ToLower(refunded)
	if !strings.Contains(history, "refund 1: usd\u00a00.40 pending") || !strings.Contains(history, "refund 1: usd\u00a00.40 done re_") ||
		!strings.Contains(history, "crawled a paywalled section by mistake") || !strings.Contains(refunded, "partially refunded") {
		t.Fatalf("history:\n%s\nrefunded %q", history, refunded)
	}
	// The rest, with the amount left empty.
	navigate(t, bctx, "refund the rest", chromedp.SendKeys(chromedp.ID("refund-reason"), "the whole day was a mistake"), chromedp.Click(chromedp.ID("refund")))
	navigate(t, bctx, "confirm the rest", chromedp.Click(chromedp.ID("confirm")))
	if refunded := strings.ToLower(textOf(t, bctx, chromedp.ID("refunded"))); !strings.Contains(refunded, "usd\u00a01.50") ||
		!strings.Contains(refunded, "refunded") || strings.Contains(refunded, "partially") {
		t.Fatalf("refunded %q", refunded)
	}
	if n := evalInt(t, bctx, `document.querySelectorAll('#refund').length`); n != 0 {
		t.Errorf("a fully refunded invoice still offers a refund")
	}
	inv := w.invoice(id)
	if inv.RefundState() != ledger.RefundStateFull || len(inv.Refunds) != 2 || inv.Refunds[0].Actor != "alice" || len(proxy.Refunds()) != 2 {
		t.Fatalf("ledger: %s %+v; Stripe %d refunds", inv.RefundState(), inv.Refunds, len(proxy.Refunds()))
	}
}
