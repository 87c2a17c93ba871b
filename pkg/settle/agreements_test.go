package settle_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// month is the generated month of the agreement tests: December 2031,
// which starts on a Monday (weeks Dec 1-7, 8-14, 15-21, 22-28, Dec 29 - Jan
// 4) and lies in the future, so replay keys outlive the test.
var month = time.Date(2031, 12, 1, 0, 0, 0, 0, time.UTC)

// dec is the ledger day of December d, 2031 (d may run into January).
func dec(d int) string { return ledger.Day(month.AddDate(0, 0, d-1)) }

// arrangements is an in-memory settle.Arrangements (the registry adapter
// is tested against the real registry).
type arrangements struct {
	mu      sync.Mutex
	cadence map[string]agreement.Cadence
	agrs    []agreement.Agreement
}

func newArrangements() *arrangements {
	return &arrangements{cadence: map[string]agreement.Cadence{}}
}

func (a *arrangements) set(account string, c agreement.Cadence) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cadence[account] = c
}

func (a *arrangements) add(g agreement.Agreement) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.agrs = append(a.agrs, g)
}

func (a *arrangements) Cadence(_ context.Context, account string) (agreement.Cadence, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.cadence[account]; ok {
		return c, nil
	}
	return agreement.CadenceDay, nil
}

func (a *arrangements) Agreements(_ context.Context, account string) ([]agreement.Agreement, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []agreement.Agreement
	for _, g := range a.agrs {
		if g.Account == account {
			out = append(out, g)
		}
	}
	return out, nil
}

func (a *arrangements) Subscribers(_ context.Context, span agreement.Span) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	windows := agreement.Windows(a.agrs)
	seen := map[string]bool{}
	var out []string
	for _, g := range a.agrs {
		w, ok := windows[agreement.Ref{ID: g.ID, Version: g.Version}]
		if !ok || g.Terms.Kind != agreement.KindSubscription || !(agreement.Span{Start: w.From, End: w.Until}).Overlaps(span) || seen[g.Account] {
			continue
		}
		seen[g.Account] = true
		out = append(out, g.Account)
	}
	sort.Strings(out)
	return out, nil
}

// commit appends one commitment per price for account at t.
func (e *env) commit(account string, t time.Time, pub, site string, prices ...money.Micros) {
	e.t.Helper()
	e.clock.Set(t)
	for _, p := range prices {
		n := e.seq.Add(1)
		c := &ledger.Commitment{
			RequestID: fmt.Sprintf("req-%d", n), Received: t, Account: account, KeyID: "key-1",
			Publisher: pub, Site: site, Method: "GET", Path: fmt.Sprintf("/p/%d", n),
			Price: p, Currency: "USD", ReplayIDs: []string{fmt.Sprintf("nonce-%d", n)}, ReplayUntil: t.Add(time.Hour),
		}
		if _, err := e.l.Append(e.ctx, c, ledger.Limits{}); err != nil {
			e.t.Fatalf("Append: %v", err)
		}
	}
}

// noon is December d, 2031 at 12:00 UTC.
func noon(d int) time.Time { return month.AddDate(0, 0, d-1).Add(12 * time.Hour) }

// closeDays closes December from..to, each at its end plus grace, as the
// daily cron would.
func (e *env) closeDays(s *settle.Settler, from, to int) {
	e.t.Helper()
	for d := from; d <= to; d++ {
		e.clock.Set(month.AddDate(0, 0, d).Add(e.cfg.Grace))
		if _, err := s.Close(e.ctx, dec(d)); err != nil {
			e.t.Fatalf("Close %s: %v", dec(d), err)
		}
	}
}

// has reports whether the invoice of (account, day) in USD exists.
func (e *env) has(account, day string) bool {
	e.t.Helper()
	_, err := e.l.Invoice(e.ctx, ledger.InvoiceID(account, day, "USD"))
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

// sub is an accepted subscription version for the tests, on example.com
// of pub-1, 1,000 requests included, 0.01 beyond.
func sub(id string, v int, account string, from, until time.Time, period agreement.Period, fee money.Micros, arrears bool) agreement.Agreement {
	timing := agreement.FeeInAdvance
	if arrears {
		timing = agreement.FeeInArrears
	}
	return agreement.Agreement{ID: id, Version: v, Publisher: "pub-1", Account: account, Currency: "USD",
		Scope: []agreement.Site{{Host: "example.com"}}, ValidFrom: from, ValidUntil: until,
		Terms: agreement.Terms{Kind: agreement.KindSubscription, Subscription: &agreement.Subscription{
			Period: period, Fee: fee, Included: 1000, FeeTiming: timing,
			Overage: &agreement.Rate{Mode: agreement.RateFixed, Price: 10_000}}},
		State: agreement.StateAccepted, OfferedAt: from.Add(-time.Hour), DecidedAt: from.Add(-time.Hour),
		Acceptance: &agreement.Acceptance{KeyID: "key-1", SignedAt: from.Add(-time.Hour)}}
}

// TestWeeklyAndMonthlyInvoices: a weekly and a monthly crawler get one
// invoice per period covering its days (dated its last day, closed days
// refusing late commitments), a daily one an invoice a day as before, and
// the period invoices are charged once on Stripe.
func TestWeeklyAndMonthlyInvoices(t *testing.T) {
	e := newEnv(t, rails{stripe: true})
	arr := newArrangements()
	arr.set("weekly", agreement.CadenceWeek)
	arr.set("monthly", agreement.CadenceMonth)
	e.arr = arr
	for _, acct := range []string{"daily", "weekly", "monthly"} {
		e.stripePayer(acct, "pm_card_visa")
		e.commit(acct, noon(1), "pub-1", "example.com", 100_000, 200_000)
		e.commit(acct, noon(3), "pub-2", "news.example", 300_000)
		e.commit(acct, noon(7), "pub-1", "example.com", 400_000)
		e.commit(acct, noon(9), "pub-1", "example.com", 500_000)
	}
	e.commit("monthly", noon(31), "pub-1", "example.com", 600_000)
	s := e.settler(hooks{})
	e.closeDays(s, 1, 31)

	// Daily: as before agreements, an invoice per usage day.
	for _, d := range []int{1, 3, 7, 9} {
		if !e.has("daily", dec(d)) {
			t.Errorf("daily crawler: no invoice on %s", dec(d))
		}
	}
	// Weekly: one invoice per week, on its Sunday.
	for _, d := range []int{1, 3, 9} {
		if e.has("weekly", dec(d)) {
			t.Errorf("weekly crawler: an invoice on %s", dec(d))
		}
	}
	w1 := e.invoice(ledger.InvoiceID("weekly", dec(7), "USD"))
	wantLines := []ledger.Line{
		{Publisher: "pub-1", Site: "example.com", Count: 3, Amount: 700_000, Kind: ledger.LineList},
		{Publisher: "pub-2", Site: "news.example", Count: 1, Amount: 300_000, Kind: ledger.LineList},
	}
	if w1.From != dec(1) || w1.Total != 1_000_000 || !reflect.DeepEqual(w1.Lines, wantLines) || w1.Check != ledger.CheckOK {
		t.Fatalf("week 1 invoice: from %s total %s check %q lines %+v", w1.From, w1.Total, w1.Check, w1.Lines)
	}
	w2 := e.invoice(ledger.InvoiceID("weekly", dec(14), "USD"))
	if w2.From != dec(8) || w2.Total != 500_000 {
		t.Fatalf("week 2 invoice: from %s total %s", w2.From, w2.Total)
	}
	// Monthly: one invoice on the 31st for the whole month.
	for _, d := range []int{1, 3, 7, 9} {
		if e.has("monthly", dec(d)) {
			t.Errorf("monthly crawler: an invoice on %s", dec(d))
		}
	}
	m := e.invoice(ledger.InvoiceID("monthly", dec(31), "USD"))
	if m.From != dec(1) || m.Total != 2_100_000 || m.Check != ledger.CheckOK {
		t.Fatalf("monthly invoice: from %s total %s check %q", m.From, m.Total, m.Check)
	}
	// A day in the middle of a period is closed when its grace passes.
	late := &ledger.Commitment{RequestID: "late", Received: noon(3), Account: "monthly", KeyID: "key-1",
		Publisher: "pub-1", Site: "example.com", Price: 1, Currency: "USD", ReplayIDs: []string{"late"}, ReplayUntil: noon(3).Add(time.Hour)}
	e.clock.Set(noon(3))
	if _, err := e.l.Append(e.ctx, late, ledger.Limits{}); !errors.Is(err, ledger.ErrDayClosed) {
		t.Fatalf("late commitment in the middle of a month: %v", err)
	}
	// Closing again changes nothing; charging pays each period once.
	e.closeDays(s, 1, 31)
	for _, d := range []int{7, 14, 31} {
		if _, err := s.Approve(e.ctx, dec(d)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Charge(e.ctx, dec(d)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{w1.ID, w2.ID, m.ID} {
		e.assertStripeOnce(e.invoice(id))
	}
	if again := e.invoice(m.ID); again.Total != 2_100_000 || again.Charged != 2_100_000 {
		t.Fatalf("monthly invoice after a second close: total %s charged %s", again.Total, again.Charged)
	}
}

// TestSubscriptionFees: fee lines in advance and in arrears, prorated when
// a subscription starts mid-month or is superseded mid-period, on daily,
// weekly and monthly invoices, fee-only invoices on days without usage,
// each line naming its agreement; every total is its commitments plus its
// fees, to the micro-unit.
func TestSubscriptionFees(t *testing.T) {
	e := newEnv(t, rails{})
	arr := newArrangements()
	e.arr = arr
	arr.set("weekly", agreement.CadenceWeek)
	arr.set("monthly", agreement.CadenceMonth)
	// daily: a monthly subscription in advance from December 10.
	arr.add(sub("agr_d", 1, "daily", noon(10).Add(-12*time.Hour), time.Time{}, agreement.PeriodMonth, 31_000_000, false))
	// monthly: in arrears, superseded on the 20th by a cheaper version.
	arr.add(sub("agr_m", 1, "monthly", month, noon(20).Add(-12*time.Hour), agreement.PeriodMonth, 100_000_000, true))
	arr.add(sub("agr_m", 2, "monthly", noon(20).Add(-12*time.Hour), time.Time{}, agreement.PeriodMonth, 50_000_000, true))
	// weekly: a weekly subscription in advance from Wednesday the 3rd, ended on the 12th at 18:00.
	arr.add(sub("agr_w", 1, "weekly", noon(3).Add(-12*time.Hour), noon(12).Add(6*time.Hour), agreement.PeriodWeek, 7_000_000, false))
	e.commit("daily", noon(12), "pub-1", "example.com", 10, 20)
	e.commit("monthly", noon(5), "pub-1", "example.com", 30)
	e.commit("weekly", noon(4), "pub-1", "example.com", 40)
	s := e.settler(hooks{})
	e.closeDays(s, 1, 31)

	type want struct {
		account string
		day     int
		from    string
		usage   money.Micros
		fees    []ledger.Line
	}
	fee := func(id string, v int64, period string, amount money.Micros) ledger.Line {
		return ledger.Line{Publisher: "pub-1", Site: period, Amount: amount, Kind: ledger.LineFee, AgreementID: id, AgreementVersion: v}
	}
	for _, w := range []want{
		// 22 of 31 days: exactly 22/31 of the fee.
		{"daily", 10, "", 0, []ledger.Line{fee("agr_d", 1, dec(10)+".."+dec(31), 22_000_000)}},
		{"daily", 12, "", 30, nil},
		// v1 bears days 1-19 (floor(100e6*19/31)), v2 the rest of the
		// cumulative floor of 50e6: 50e6 - floor(50e6*19/31).
		{"monthly", 31, dec(1), 30, []ledger.Line{
			fee("agr_m", 1, dec(1)+".."+dec(19), 61_290_322),
			fee("agr_m", 2, dec(20)+".."+dec(31), 50_000_000-30_645_161)}},
		// Wednesday on: 5 of 7 days; the next week until Friday 18:00: Monday to Thursday whole.
		{"weekly", 7, dec(1), 40, []ledger.Line{fee("agr_w", 1, dec(3)+".."+dec(7), 5_000_000)}},
		{"weekly", 14, dec(8), 0, []ledger.Line{fee("agr_w", 1, dec(8)+".."+dec(11), 4_000_000)}},
	} {
		inv := e.invoice(ledger.InvoiceID(w.account, dec(w.day), "USD"))
		var usage money.Micros
		var fees []ledger.Line
		for _, l := range inv.Lines {
			if l.Kind == ledger.LineFee {
				fees = append(fees, l)
			} else {
				usage += l.Amount
			}
		}
		var feeSum money.Micros
		for _, f := range w.fees {
			feeSum += f.Amount
		}
		if inv.From != w.from || usage != w.usage || !reflect.DeepEqual(fees, w.fees) || inv.Total != usage+feeSum {
			t.Errorf("%s: from %q usage %s total %s fees %+v; want from %q usage %s fees %+v",
				inv.ID, inv.From, usage, inv.Total, fees, w.from, w.usage, w.fees)
		}
	}
	// No invoice where nothing is due.
	for _, c := range []struct {
		account string
		day     int
	}{{"daily", 11}, {"daily", 13}, {"weekly", 21}, {"monthly", 20}} {
		if e.has(c.account, dec(c.day)) {
			t.Errorf("%s: an invoice on %s", c.account, dec(c.day))
		}
	}
	// The January fee of the daily subscription is on January 1st's invoice.
	e.closeDays(s, 32, 32)
	jan := e.invoice(ledger.InvoiceID("daily", dec(32), "USD"))
	if len(jan.Lines) != 1 || jan.Lines[0].Amount != 31_000_000 || jan.Lines[0].Site != "2032-01-01..2032-01-31" {
		t.Fatalf("January's fee: %+v", jan.Lines)
	}
}
