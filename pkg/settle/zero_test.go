package settle_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// quotaUse appends n requests of account at t inside the quota of
// subscription v, in currency cur (each charged 0).
func (e *env) quotaUse(account string, t time.Time, v agreement.Agreement, cur string, n int) {
	e.t.Helper()
	e.clock.Set(t)
	s := v.Terms.Subscription
	p, _ := agreement.PeriodOf(agreement.Cadence(s.Period), t)
	for i := 0; i < n; i++ {
		seq := e.seq.Add(1)
		c := &ledger.Commitment{
			RequestID: fmt.Sprintf("req-%d", seq), Received: t, Account: account, KeyID: "key-1",
			Publisher: v.Publisher, Site: "example.com", Method: "GET", Path: fmt.Sprintf("/p/%d", seq),
			Currency: cur, ReplayIDs: []string{fmt.Sprintf("nonce-%d", seq)}, ReplayUntil: t.Add(time.Hour),
			AgreementID: v.ID, AgreementVersion: int64(v.Version), ListPrice: 5_000, Charge: ledger.ChargeQuota,
		}
		lim := ledger.Limits{Quota: &ledger.Quota{PeriodStart: p.Start, PeriodEnd: p.End, Included: s.Included, Overage: 10_000}}
		if _, err := e.l.Append(e.ctx, c, lim); err != nil {
			e.t.Fatalf("Append: %v", err)
		}
	}
}

// TestZeroTotalInvoices: an invoice whose total is 0 (a subscription's
// usage all inside its quota, its fee on another invoice) is settled paid
// with nothing charged and no rail called: no PaymentIntent on stripe-mock
// (which refuses 0 amounts), no transfer on the chain (the settler sends no
// transaction, the wallet keeps its tokens), and it needs no billing
// profile. Its attempt and history say why; a later run does nothing more.
func TestZeroTotalInvoices(t *testing.T) {
	e := newEnv(t, rails{stripe: true, evm: true})
	arr := newArrangements()
	e.arr = arr
	card := sub("agr_card", 1, "card", month, time.Time{}, agreement.PeriodMonth, 0, false)
	chain := sub("agr_chain", 1, "chain", month, time.Time{}, agreement.PeriodMonth, 0, false)
	chain.Currency = "USDC"
	none := sub("agr_none", 1, "nobody", month, time.Time{}, agreement.PeriodMonth, 0, false)
	for _, a := range []agreement.Agreement{card, chain, none} {
		arr.add(a)
	}
	e.stripePayer("card", "pm_card_visa")
	_, wallet := e.evmPayer("chain", 5_000_000, 5_000_000)
	e.quotaUse("card", noon(2), card, "USD", 3)
	e.quotaUse("chain", noon(2), chain, "USDC", 2)
	e.quotaUse("nobody", noon(2), none, "USD", 1)
	s := e.settler(hooks{})
	e.closeDays(s, 2, 2)
	for i := 0; i < 2; i++ { // the second run finds nothing to do
		if _, err := s.Approve(e.ctx, dec(2)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Charge(e.ctx, dec(2)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ account, cur string }{{"card", "USD"}, {"chain", "USDC"}, {"nobody", "USD"}} {
		inv := e.invoice(ledger.InvoiceID(c.account, dec(2), c.cur))
		var outcomes []string
		for _, a := range inv.Attempts {
			outcomes = append(outcomes, a.Outcome)
		}
		last := inv.History[len(inv.History)-1]
		if inv.Total != 0 || inv.Status != ledger.StatusPaid || inv.Charged != 0 || inv.CarriedOut != 0 || inv.Rail != "" ||
			inv.PaymentIntent != "" || inv.TxHash != "" || strings.Join(outcomes, ",") != "started,"+settle.ZeroDetail ||
			!strings.Contains(last.Reason, "nothing to charge") || !strings.Contains(last.Reason, "quota") {
			t.Errorf("%s: total %s %s charged %s carried %s rail %q intent %q tx %q attempts %v, last %q",
				inv.ID, inv.Total, inv.Status, inv.Charged, inv.CarriedOut, inv.Rail, inv.PaymentIntent, inv.TxHash, outcomes, last.Reason)
		}
		if c.account == "card" {
			if in := e.intents(inv.ID); len(in) != 0 {
				t.Errorf("%s: %d PaymentIntents on Stripe for a total of 0", inv.ID, len(in))
			}
		}
	}
	if n := len(e.proxy.Intents()); n != 0 {
		t.Errorf("stripe-mock saw %d PaymentIntents", n)
	}
	e.assertChainOnce(map[string]money.Micros{wallet.Hex(): 5_000_000}, 0, 0)
}
