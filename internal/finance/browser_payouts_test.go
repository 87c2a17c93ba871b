package finance_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/paycrawl/paycrawl/pkg/earnings"
)

// TestBrowserPayouts drives headless Chromium as a finance person: from the
// invoices page's top bar to the payouts page, where every payout is a row
// with its status and reference and only the actions its status allows;
// a hold needs a reason (the browser will not send the form without one),
// is confirmed by the server's flash and shows in the row, then a release
// puts it back to pending, each recorded with the person's name. A viewer
// sees the same table without a form.
func TestBrowserPayouts(t *testing.T) {
	w := newWorld(t)
	book := w.withPayouts()
	a, b := earnings.PayoutID("2026-W49", "pub_a", "USD"), earnings.PayoutID("2026-W49", "pub_b", "USD")

	exe := chromium(t)
	dir := t.TempDir()
	bctx := newBrowser(t, w.ctx, exe, dir, 1200, 900)
	navigate(t, bctx, "the login page", chromedp.Navigate(w.ts.URL+"/"))
	navigate(t, bctx, "sign in", chromedp.SendKeys(chromedp.ID("token"), aliceToken), chromedp.Click(chromedp.ID("signin")))
	navigate(t, bctx, "the payouts link", chromedp.Click(chromedp.ID("nav-payouts")))
	if n := evalInt(t, bctx, `document.querySelectorAll('#payout-table tbody tr').length`); n != 3 {
		t.Fatalf("%d payout rows, want 3", n)
	}
	// The row's words, lower-cased (the status badge is capitalised by CSS).
	row := func(id string) string {
		return strings.ToLower(strings.Join(strings.Fields(textOf(t, bctx, chromedp.ID(id))), " "))
	}
	if r := row(b); !strings.Contains(r, "paid") || !strings.Contains(r, "tr_1") || !strings.Contains(r, "acct_b") {
		t.Fatalf("the paid payout's row: %q", r)
	}
	forms := func(id string) int {
		return evalInt(t, bctx, `document.getElementById(`+jsString(id)+`).querySelectorAll('form').length`)
	}
	if forms(b) != 0 || forms(a) != 2 {
		t.Fatalf("forms: %d on the paid payout (want 0), %d on a pending one (want 2: hold, cancel)", forms(b), forms(a))
	}
	if n := evalInt(t, bctx, `[...document.querySelectorAll('#payout-table input[name=reason]')].filter(i => !i.getAttribute('aria-label')).length`); n != 0 {
		t.Fatalf("%d reason inputs have no label", n)
	}
	holdForm := `document.querySelector('form[action="/payouts/` + a + `/hold"]')`
	if n := evalInt(t, bctx, holdForm+`.checkValidity() ? 1 : 0`); n != 0 {
		t.Fatal("the hold form is valid without a reason")
	}
	shot(t, bctx, dir, "finance-payouts.png")
	navigate(t, bctx, "hold", chromedp.SendKeys(chromedp.CSS(`form[action="/payouts/`+a+`/hold"] input[name=reason]`), "statement disputed"),
		chromedp.Click(chromedp.ID("hold-"+a)))
	if f := textOf(t, bctx, chromedp.ID("flash")); !strings.Contains(f, "Payout "+a+" is held") {
		t.Fatalf("flash after the hold: %q", f)
	}
	if r := row(a); !strings.Contains(r, "held") || forms(a) != 2 || evalInt(t, bctx, `document.querySelectorAll('[id="release-`+a+`"]').length`) != 1 {
		t.Fatalf("the held payout's row: %q", r)
	}
	shot(t, bctx, dir, "finance-payout-held.png")
	navigate(t, bctx, "release", chromedp.SendKeys(chromedp.CSS(`form[action="/payouts/`+a+`/release"] input[name=reason]`), "settled with the publisher"),
		chromedp.Click(chromedp.ID("release-"+a)))
	if r := row(a); !strings.Contains(r, "pending") {
		t.Fatalf("the released payout's row: %q", r)
	}
	po, err := book.Payout(w.ctx, a)
	if err != nil || po.Status != earnings.PayoutPending {
		t.Fatalf("released payout %+v %v", po, err)
	}
	var hold, release bool
	for _, h := range po.History {
		hold = hold || h.Actor == "alice" && h.Reason == "statement disputed" && h.To == string(earnings.PayoutHeld)
		release = release || h.Actor == "alice" && h.Reason == "settled with the publisher" && h.To == string(earnings.PayoutPending)
	}
	if !hold || !release {
		t.Fatalf("history %+v: want alice's hold and release with their reasons", po.History)
	}

	vctx := newBrowser(t, w.ctx, exe, t.TempDir(), 1200, 900)
	navigate(t, vctx, "the viewer's login page", chromedp.Navigate(w.ts.URL+"/"))
	navigate(t, vctx, "the viewer signs in", chromedp.SendKeys(chromedp.ID("token"), victorToken), chromedp.Click(chromedp.ID("signin")))
	navigate(t, vctx, "the viewer's payouts", chromedp.Navigate(w.ts.URL+"/payouts"))
	if n := evalInt(t, vctx, `document.querySelectorAll('#payout-table tbody tr').length`); n != 3 {
		t.Fatalf("the viewer sees %d payout rows, want 3", n)
	}
	if n := evalInt(t, vctx, `document.querySelectorAll('#payout-table form').length`); n != 0 {
		t.Fatalf("the viewer's page has %d forms", n)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
