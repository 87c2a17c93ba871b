package main

import (
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// TestInvoicesTopUp: `settler invoices topup` buys prepaid credit for the
// card operator's accepted prepaid agreement through settler serve, on
// stripe-mock, credited once paid; the same --id again charges nothing;
// without --id the command prints the id it chose; refusals carry the
// server's message; once the agreement's host is no longer its publisher's
// no top-up is sold.
func TestInvoicesTopUp(t *testing.T) {
	w := newWorld(t)
	agr := w.prepaidAgreement(t)
	w.serve(w.financeConfig())

	args := []string{"topup", "--account", w.card, "--agreement", agr, "--amount", "10.00", "--reason", "asked by mail"}
	for _, r := range []struct {
		token string
		args  []string
		has   string
	}{
		{viewerToken, append(args, "--id", "t1"), "viewer role"},
		{financeToken, []string{"topup", "--agreement", agr, "--id", "t1"}, "--account and --agreement are required"},
		{financeToken, append(args, "--id", "T_1"), "lower-case letters and digits (invalid_request"},
		{financeToken, []string{"topup", "--account", w.card, "--agreement", "agr_aaaaaaaaaaaaaaaa", "--id", "t1"}, "no_prepaid_agreement"},
		{financeToken, append(args, "--id", "t1", "--line", "1"), "--line does not apply"},
		{financeToken, append(args, "--id", "t1", "extra"), "takes no arguments"},
	} {
		if _, _, err := w.inv(r.token, r.args...); err == nil || !strings.Contains(err.Error(), r.has) {
			t.Errorf("%v: error %v, want it to mention %q", r.args, err, r.has)
		}
	}
	id := ledger.TopUpInvoiceID(w.card, ledger.Day(time.Now()), "t1", "USD")
	out, _, err := w.inv(financeToken, append(args, "--id", "t1")...)
	if err != nil || !strings.Contains(out, "Top-up "+id+" of USD 10.00 is paid and credited: the prepaid balance is USD 10.00.") ||
		!strings.Contains(strings.Join(strings.Fields(out), " "), "1 pub_news - topup 0 10.00 0.00 10.00 "+agr+" v1") {
		t.Fatalf("topup: %v\n%s", err, out)
	}
	out, _, err = w.inv(financeToken, append(args, "--id", "t1")...)
	if err != nil || !strings.Contains(out, "this id was used already: nothing was charged again") {
		t.Fatalf("topup again: %v\n%s", err, out)
	}
	out, errOut, err := w.inv(financeToken, "topup", "--account", w.card, "--agreement", agr, "--json")
	if err != nil || !strings.Contains(errOut, "top-up id ") || !strings.Contains(out, `"balance": "15.00"`) {
		t.Fatalf("topup without --id: %v\n%s\n%s", err, out, errOut)
	}
	if b, err := w.l.PrepaidBalance(w.ctx, w.card, agr); err != nil || b != 15_000_000 {
		t.Fatalf("balance %s, %v", b, err)
	}
	// The admin takes news.example from pub_news: no more credit is sold
	// for it (409 host_unclaimed), nothing is charged.
	if _, err := w.store.SetPublisherHosts(w.ctx, "pub_news", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.inv(financeToken, append(args, "--id", "t3")...); err == nil || !strings.Contains(err.Error(), "host_unclaimed") ||
		!strings.Contains(err.Error(), "news.example") {
		t.Errorf("topup after the host left its publisher: %v, want host_unclaimed naming news.example", err)
	}
	var paid int
	for _, in := range w.proxy.Intents() {
		if in.Status == "succeeded" {
			paid++
		}
	}
	if paid != 2 {
		t.Fatalf("%d succeeded PaymentIntents, want 2 (one per top-up id)", paid)
	}
}
