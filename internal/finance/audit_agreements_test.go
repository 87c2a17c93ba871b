package finance_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance"
	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// agreementList is an in-memory finance.AgreementSource.
type agreementList []agreement.Agreement

func (l agreementList) Agreements(_ context.Context, account string) ([]agreement.Agreement, error) {
	var out []agreement.Agreement
	for _, a := range l {
		if a.Account == account {
			out = append(out, a)
		}
	}
	return out, nil
}

// TestAuditReDerivesFeeLines: the audit re-derives a subscription's fee
// line from the agreement, flags a fee that differs by one micro-unit, and
// says when it has no agreements to re-derive from.
func TestAuditReDerivesFeeLines(t *testing.T) {
	w := newWorld(t)
	w.use("acme", "pub-1", "example.com", "USD", 100, 200)
	sub := func(account string) agreement.Agreement {
		return agreement.Agreement{ID: "agr_" + account, Version: 1, Publisher: "pub-1", Account: account, Currency: "USD",
			Scope: []agreement.Site{{Host: "example.com"}}, ValidFrom: w.base,
			Terms: agreement.Terms{Kind: agreement.KindSubscription, Subscription: &agreement.Subscription{
				Period: agreement.PeriodMonth, Fee: 31_000_000, Included: 100}},
			State: agreement.StateAccepted, DecidedAt: w.base.Add(-time.Hour), Acceptance: &agreement.Acceptance{KeyID: "k"}}
	}
	src := agreementList{sub("acme"), sub("bent")}
	day := agreement.Span{Start: w.base, End: w.base.Add(24 * time.Hour)}
	create := func(account string, extra int64, usage ...ledger.Line) *ledger.Invoice {
		fees, err := settle.FeeLines(agreementList{sub(account)}, day, w.day)
		if err != nil || len(fees) != 1 {
			t.Fatalf("FeeLines = %+v, %v", fees, err)
		}
		fee := fees[0].Line
		fee.Amount += money.Micros(extra)
		covered := []string{w.day}
		if len(usage) == 0 {
			covered = nil
		}
		inv, _, err := w.l.CreateLinesInvoice(w.ctx, ledger.LinesInvoice{Account: account, Day: w.day, Currency: "USD",
			Covered: covered, Lines: append(usage, fee), Actor: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return inv
	}
	good := create("acme", 0, ledger.Line{Publisher: "pub-1", Site: "example.com", Count: 2, Amount: 300, Kind: ledger.LineList})
	bent := create("bent", 1)
	audit := func(src finance.AgreementSource, inv *ledger.Invoice) *finance.AuditReport {
		rep, err := (&finance.Auditor{Ledger: w.l, Agreements: src}).Audit(w.ctx, inv, finance.AuditHooks{})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := audit(src, good); !rep.OK() || rep.Verified != 2 || len(rep.Lines) != 2 || !rep.Lines[1].Derived {
		t.Fatalf("audit of a right invoice: %+v", rep)
	}
	rep := audit(src, bent)
	if rep.OK() || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "its subscription implies") {
		t.Fatalf("audit of a fee one micro-unit off: %+v", rep)
	}
	rep = audit(nil, good)
	if rep.OK() || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "cannot re-derive") {
		t.Fatalf("audit without agreements: %+v", rep)
	}
}
