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
	since   map[string]time.Time
	agrs    []agreement.Agreement
	// down, when set, is the error every read returns (the registry
	// unreachable).
	down error
	// reads counts the calls of Accounts.
	reads int
}

func newArrangements() *arrangements {
	return &arrangements{cadence: map[string]agreement.Cadence{}, since: map[string]time.Time{}}
}

// set gives account cadence c from before the tests' month.
func (a *arrangements) set(account string, c agreement.Cadence) { a.setAt(account, c, time.Time{}) }

// setAt changes account's cadence to c at `at`.
func (a *arrangements) setAt(account string, c agreement.Cadence, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cadence[account], a.since[account] = c, at
}

// fail makes every read fail with err (nil: the registry is back).
func (a *arrangements) fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.down = err
}

func (a *arrangements) add(g agreement.Agreement) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.agrs = append(a.agrs, g)
}

func (a *arrangements) Cadence(_ context.Context, account string) (agreement.Cadence, time.Time, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down != nil {
		return "", time.Time{}, a.down
	}
	if c, ok := a.cadence[account]; ok {
		return c, a.since[account], nil
	}
	return agreement.CadenceDay, time.Time{}, nil
}

func (a *arrangements) Agreements(_ context.Context, account string) ([]agreement.Agreement, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down != nil {
		return nil, a.down
	}
	var out []agreement.Agreement
	for _, g := range a.agrs {
		if g.Account == account {
			out = append(out, g)
		}
	}
	return out, nil
}

func (a *arrangements) Accounts(_ context.Context, span agreement.Span, kind agreement.Kind) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reads++
	if a.down != nil {
		return nil, a.down
	}
	windows := agreement.Windows(a.agrs)
	seen := map[string]bool{}
	var out []string
	for _, g := range a.agrs {
		w, ok := windows[agreement.Ref{ID: g.ID, Version: g.Version}]
		if !ok || g.Terms.Kind != kind || !(agreement.Span{Start: w.From, End: w.Until}).Overlaps(span) || seen[g.Account] {
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

// agreed appends n requests of account at t under version v of an
// agreement: a subscription's (quota, or overage once the ledger finds the
// period's quota used up), a prepaid one's (drawing the list price) or a
// rate's; it returns how many the ledger refused and with what.
func (e *env) agreed(account string, t time.Time, v agreement.Agreement, list money.Micros, n int) (refused int, last error) {
	e.t.Helper()
	e.clock.Set(t)
	for i := 0; i < n; i++ {
		seq := e.seq.Add(1)
		c := &ledger.Commitment{
			RequestID: fmt.Sprintf("req-%d", seq), Received: t, Account: account, KeyID: "key-1",
			Publisher: v.Publisher, Site: "example.com", Method: "GET", Path: fmt.Sprintf("/p/%d", seq),
			Currency: "USD", ReplayIDs: []string{fmt.Sprintf("nonce-%d", seq)}, ReplayUntil: t.Add(time.Hour),
			AgreementID: v.ID, AgreementVersion: int64(v.Version), ListPrice: list,
		}
		var lim ledger.Limits
		ch, err := agreement.Apply(&v, list, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		c.Charge, c.Price = ledger.ChargeKind(ch.Kind), ch.Price
		switch v.Terms.Kind {
		case agreement.KindSubscription:
			s := v.Terms.Subscription
			p, _ := agreement.PeriodOf(agreement.Cadence(s.Period), t)
			beyond, _ := agreement.Apply(&v, list, s.Included)
			c.Charge, c.Price = ledger.ChargeQuota, 0
			lim.Quota = &ledger.Quota{PeriodStart: p.Start, PeriodEnd: p.End, Included: s.Included, Overage: beyond.Price, HardStop: s.HardStop}
		case agreement.KindPrepaid:
			c.Drawn = ch.Draw
		}
		if _, err := e.l.Append(e.ctx, c, lim); err != nil {
			if errors.Is(err, ledger.ErrPrepaidExhausted) || errors.Is(err, ledger.ErrQuotaExhausted) {
				refused, last = refused+1, err
				continue
			}
			e.t.Fatalf("Append: %v", err)
		}
	}
	return refused, last
}

// TestAgreementsOverAMonth: a generated December on real Redis — a
// subscription's quota exhausted in the middle of a day (then overage),
// superseded on the 15th by a version with a larger quota and a dearer
// overage (the period's count carries over), a hard-stopped one refusing
// beyond its quota, a prepaid balance drawn to exhaustion on a weekly
// invoice, a negotiated rate on a monthly one. Every invoice equals its
// commitments' charges plus the fees the agreements imply, to the
// micro-unit; every commitment's charge re-derives from its agreement.
func TestAgreementsOverAMonth(t *testing.T) {
	e := newEnv(t, rails{})
	arr := newArrangements()
	e.arr = arr
	arr.set("prep", agreement.CadenceWeek)
	arr.set("rate", agreement.CadenceMonth)
	dec15 := noon(15).Add(-12 * time.Hour)
	q1 := sub("agr_q", 1, "subd", month, time.Time{}, agreement.PeriodMonth, 31_000_000, false)
	q1.Terms.Subscription.Included = 10
	q2 := sub("agr_q", 2, "subd", dec15, time.Time{}, agreement.PeriodMonth, 31_000_000, false)
	q2.Terms.Subscription.Included, q2.Terms.Subscription.Overage = 25, &agreement.Rate{Mode: agreement.RateFixed, Price: 20_000}
	q2.OfferedAt, q2.DecidedAt = dec15.Add(-time.Hour), dec15.Add(-time.Hour)
	hard := sub("agr_h", 1, "hard", month, time.Time{}, agreement.PeriodWeek, 0, false)
	hard.Terms.Subscription.Included, hard.Terms.Subscription.HardStop, hard.Terms.Subscription.Overage = 3, true, nil
	prep := sub("agr_p", 1, "prep", month, time.Time{}, agreement.PeriodMonth, 0, false)
	prep.Terms = agreement.Terms{Kind: agreement.KindPrepaid, Prepaid: &agreement.Prepaid{Amount: 1_000}}
	rate := sub("agr_r", 1, "rate", month, time.Time{}, agreement.PeriodMonth, 0, false)
	rate.Terms = agreement.Terms{Kind: agreement.KindRate, Rate: &agreement.Rate{Mode: agreement.RateDiscount, DiscountBPS: 2_500}}
	for _, a := range []agreement.Agreement{q1, q2, hard, prep, rate} {
		arr.add(a)
	}
	if _, _, err := e.l.CreditPrepaid(e.ctx, "prep", "agr_p", "tu:seed", 1_000); err != nil {
		t.Fatal(err)
	}
	e.agreed("subd", noon(5), q1, 5_000, 12)  // 10 inside the quota, 2 overage at 0.01
	e.agreed("subd", noon(16), q2, 5_000, 20) // 12 used of 25: 13 inside, 7 overage at 0.02
	if n, err := e.agreed("hard", noon(2), hard, 5_000, 5); n != 2 || !errors.Is(err, ledger.ErrQuotaExhausted) {
		t.Fatalf("hard stop: %d refused, %v", n, err)
	}
	if n, err := e.agreed("prep", noon(2), prep, 70, 15); n != 1 || !errors.Is(err, ledger.ErrPrepaidExhausted) {
		t.Fatalf("prepaid: %d refused, %v", n, err)
	}
	e.agreed("rate", noon(9), rate, 3_333, 3) // floor(3333 * 0.75) = 2499 each
	e.commit("rate", noon(9), "pub-2", "other.example", 1_000)
	s := e.settler(hooks{})
	e.closeDays(s, 1, 31)

	type line struct {
		kind   string
		count  int64
		amount money.Micros
	}
	lines := func(inv *ledger.Invoice) []line {
		var out []line
		for _, l := range inv.Lines {
			out = append(out, line{l.Kind, l.Count, l.Amount})
		}
		return out
	}
	for _, c := range []struct {
		account string
		day     int
		want    []line
	}{
		{"subd", 1, []line{{ledger.LineFee, 0, 14_000_000}}}, // v1 bears Dec 1-14: 14/31 of the fee
		{"subd", 5, []line{{ledger.LineOverage, 2, 20_000}, {ledger.LineQuota, 10, 0}}},
		{"subd", 15, []line{{ledger.LineFee, 0, 17_000_000}}}, // v2 from the 15th
		{"subd", 16, []line{{ledger.LineOverage, 7, 140_000}, {ledger.LineQuota, 13, 0}}},
		{"hard", 2, []line{{ledger.LineQuota, 3, 0}}},
		{"prep", 7, []line{{ledger.LinePrepaid, 14, 0}}},
		{"rate", 31, []line{{ledger.LineRate, 3, 7_497}, {ledger.LineList, 1, 1_000}}},
	} {
		inv := e.invoice(ledger.InvoiceID(c.account, dec(c.day), "USD"))
		if got := lines(inv); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: lines %+v, want %+v", inv.ID, got, c.want)
		}
		if inv.Check != ledger.CheckOK {
			t.Errorf("%s: check %q", inv.ID, inv.Check)
		}
	}
	// Every invoice of the month: its total is what its days' commitments
	// were charged plus the fees its agreements imply; every charge
	// re-derives from its agreement, in order across the month.
	for _, acct := range []string{"subd", "hard", "prep", "rate"} {
		versions, _ := arr.Agreements(e.ctx, acct)
		check := settle.NewChargeCheck(versions)
		charged := map[string]money.Micros{}
		for d := 1; d <= 31; d++ {
			err := e.l.Commitments(e.ctx, acct, dec(d), func(c *ledger.Commitment) error {
				if why := check.Check(c); why != "" {
					t.Errorf("%s %s: %s", acct, c.ID, why)
				}
				charged[dec(d)] += c.Price
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		var invoiced, implied money.Micros
		for d := 1; d <= 31; d++ {
			inv, err := e.l.Invoice(e.ctx, ledger.InvoiceID(acct, dec(d), "USD"))
			if errors.Is(err, ledger.ErrNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			span := agreement.Span{Start: month.AddDate(0, 0, d-1), End: month.AddDate(0, 0, d)}
			days := []string{dec(d)}
			if inv.From != "" {
				span.Start, _ = agreement.ParseDay(inv.From)
				days = inv.Covered
			}
			want := money.Micros(0)
			for _, day := range days {
				want += charged[day]
			}
			fees, err := settle.FeeLines(versions, span, dec(d))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fees {
				want += f.Amount
			}
			if inv.Total != want {
				t.Errorf("%s: total %s, its commitments and agreements imply %s", inv.ID, inv.Total, want)
			}
			invoiced += inv.Total
			implied += want
		}
		var all money.Micros
		for _, m := range charged {
			all += m
		}
		t.Logf("%s: invoiced %s over the month; commitments charged %s", acct, invoiced, all)
	}
	// A tampered charge is caught: a quota request recorded at a price.
	versions, _ := arr.Agreements(e.ctx, "subd")
	check := settle.NewChargeCheck(versions)
	bad := &ledger.Commitment{Received: noon(5), Publisher: "pub-1", Currency: "USD", AgreementID: "agr_q", AgreementVersion: 1,
		Charge: ledger.ChargeQuota, ListPrice: 5_000, Price: 5_000}
	if why := check.Check(bad); why == "" {
		t.Fatal("a quota request charged the list price passed the check")
	}
	bad = &ledger.Commitment{Received: noon(5), Publisher: "pub-1", Currency: "USD", AgreementID: "agr_q", AgreementVersion: 2,
		Charge: ledger.ChargeQuota, ListPrice: 5_000}
	if why := check.Check(bad); why == "" {
		t.Fatal("a request under a version not yet in force passed the check")
	}
}

// TestPrepaidTopUp: a top-up is its own invoice, charged once on
// stripe-mock and credited to the ledger's prepaid balance only once paid;
// a declined card buys nothing (and the run does not retry it with new
// top-ups); a later charge run credits nothing twice; the run buys the
// first credit of a prepaid agreement and another below its TopUpBelow.
func TestPrepaidTopUp(t *testing.T) {
	e, arr, s, balance := prepaidWorld(t)
	res, err := s.TopUp(e.ctx, "prep", "agr_prep", 0)
	if err != nil || res.Status != ledger.StatusPaid {
		t.Fatalf("TopUp = %+v, %v", res, err)
	}
	inv := e.invoice(res.Invoice)
	e.assertStripeOnce(inv)
	if len(inv.Lines) != 1 || inv.Lines[0].Kind != ledger.LineTopUp || inv.Lines[0].AgreementID != "agr_prep" || inv.Total != 5_000_000 || inv.Day != dec(2) {
		t.Fatalf("top-up invoice: %+v", inv)
	}
	if b := balance("prep"); b != 5_000_000 {
		t.Fatalf("balance after the top-up: %s", b)
	}
	res2, err := s.TopUp(e.ctx, "prep", "agr_prep", 2_500_000)
	if err != nil || res2.Status != ledger.StatusPaid || res2.Invoice == res.Invoice {
		t.Fatalf("second TopUp = %+v, %v", res2, err)
	}
	// The day's charge run sees both, charges and credits nothing again.
	if _, err := s.Charge(e.ctx, dec(2)); err != nil {
		t.Fatal(err)
	}
	if b := balance("prep"); b != 7_500_000 {
		t.Fatalf("balance after two top-ups and a charge run: %s", b)
	}
	listed := e.invoices(dec(2))
	if len(listed) != 2 {
		t.Fatalf("the day lists %d invoices, want the 2 top-ups", len(listed))
	}
	// A declined card: failed, nothing credited.
	res, err = s.TopUp(e.ctx, "broke", "agr_broke", 0)
	if err != nil || res.Status != ledger.StatusFailed || balance("broke") != 0 {
		t.Fatalf("declined TopUp = %+v, %v, balance %s", res, err, balance("broke"))
	}
	// Due top-ups, bought by the run: the first credit, another when the
	// balance falls below TopUpBelow, none while one failed.
	auto := sub("agr_auto", 1, "auto", month, time.Time{}, agreement.PeriodMonth, 0, false)
	auto.Terms = agreement.Terms{Kind: agreement.KindPrepaid, Prepaid: &agreement.Prepaid{Amount: 3_000_000, TopUpBelow: 1_000_000}}
	arr.add(auto)
	e.stripePayer("auto", "pm_card_visa")
	run := func() *settle.RunReport {
		e.clock.Set(noon(2))
		return mustRun(t, s, e.ctx)
	}
	if rep := run(); len(rep.TopUps) != 1 || rep.TopUps[0].Account != "auto" || balance("auto") != 3_000_000 {
		t.Fatalf("first run: top-ups %+v, balance %s", rep.TopUps, balance("auto"))
	}
	if rep := run(); len(rep.TopUps) != 0 {
		t.Fatalf("a run with the balance above TopUpBelow bought %+v", rep.TopUps)
	}
	e.agreed("auto", noon(2), auto, 50_000, 41) // draws 2.05: 0.95 left
	if rep := run(); len(rep.TopUps) != 1 || balance("auto") != 3_950_000 {
		t.Fatalf("below TopUpBelow: top-ups %+v, balance %s", rep.TopUps, balance("auto"))
	}
	// Bad requests.
	if _, err := s.TopUp(e.ctx, "prep", "agr_prep", 1_234); !errors.Is(err, ledger.ErrInvalid) {
		t.Fatalf("a top-up of fractions of a cent: %v", err)
	}
	if _, err := s.TopUp(e.ctx, "prep", "agr_other", 0); !errors.Is(err, settle.ErrNoPrepaid) {
		t.Fatalf("a top-up of another agreement: %v", err)
	}
}
