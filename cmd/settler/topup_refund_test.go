package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// prepaidAgreement gives the card operator an accepted prepaid agreement
// with pub_news, in force by the time it returns, and returns its id.
func (w *world) prepaidAgreement(t *testing.T) string {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	proof, err := registry.SignProof(priv, w.card, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.store.RegisterKey(w.ctx, w.card, proof); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.store.CreatePublisher(w.ctx, registry.PublisherSpec{ID: "pub_news", Name: "News", Contact: "m@news.example",
		Hosts: []string{"news.example"}}); err != nil {
		t.Fatal(err)
	}
	offered, err := w.store.OfferAgreement(w.ctx, "pub_news", agreement.Agreement{Account: w.card, Currency: "USD",
		ValidFrom: time.Now().UTC().Truncate(time.Second), Scope: []agreement.Site{{Host: "news.example"}},
		Terms: agreement.Terms{Kind: agreement.KindPrepaid, Prepaid: &agreement.Prepaid{Amount: 5_000_000}}})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := agreement.SignAcceptance(priv, offered, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.store.AcceptAgreement(w.ctx, w.card, offered.ID, offered.Version, acc); err != nil {
		t.Fatal(err)
	}
	// An acceptance is in force from its second.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	return offered.ID
}

// draw appends a request of the card operator drawing d from agreement
// agr's prepaid balance, as the gateway does.
func (w *world) draw(t *testing.T, agr string, d money.Micros) {
	t.Helper()
	now := time.Now()
	n := now.UnixNano()
	c := &ledger.Commitment{RequestID: fmt.Sprintf("req-draw-%d", n), Received: now, Account: w.card, KeyID: "key-1",
		Publisher: "pub_news", Site: "news.example", Method: "GET", Path: fmt.Sprintf("/p/%d", n), Currency: "USD",
		ReplayIDs: []string{fmt.Sprintf("nonce-draw-%d", n)}, ReplayUntil: now.Add(time.Hour),
		AgreementID: agr, AgreementVersion: 1, ListPrice: d, Charge: ledger.ChargePrepaid, Drawn: d}
	if _, err := w.l.Append(w.ctx, c, ledger.Limits{}); err != nil {
		t.Fatal(err)
	}
}

// TestInvoicesRefundTopUp: `settler invoices refund` of a top-up refunds
// only its unspent credit: a part is refused with the server's topup_spent
// code and what may be refunded; all of it is refunded and the warning
// says what was spent and not refunded.
func TestInvoicesRefundTopUp(t *testing.T) {
	w := newWorld(t)
	agr := w.prepaidAgreement(t)
	w.serve(w.financeConfig())
	if _, _, err := w.inv(financeToken, "topup", "--account", w.card, "--agreement", agr, "--amount", "10.00", "--id", "t1", "--reason", "r"); err != nil {
		t.Fatal(err)
	}
	id := ledger.TopUpInvoiceID(w.card, ledger.Day(time.Now()), "t1", "USD")
	w.draw(t, agr, 2_500_000)
	_, _, err := w.inv(financeToken, "refund", id, "--amount", "1.00", "--reason", "r")
	if err == nil || !strings.Contains(err.Error(), "7.50 USD of its 10.00 USD") || !strings.Contains(err.Error(), "(topup_spent") {
		t.Fatalf("a refund in part: %v", err)
	}
	out, _, err := w.inv(financeToken, "refund", id, "--reason", "the operator left")
	if err != nil || !strings.Contains(out, "Refunded 7.50 USD of "+id) ||
		!strings.Contains(out, "warning: top-up "+id+" bought 10.00 USD of credit; 2.50 USD of it was spent on requests already served") {
		t.Fatalf("refund: %v\n%s", err, out)
	}
	if b, err := w.l.PrepaidBalance(w.ctx, w.card, agr); err != nil || b != 0 {
		t.Fatalf("balance after the refund %s, %v", b, err)
	}
	if rfs := w.proxy.Refunds(); len(rfs) != 1 || rfs[0].Amount != 750 {
		t.Fatalf("Stripe refunds %+v", rfs)
	}
}
