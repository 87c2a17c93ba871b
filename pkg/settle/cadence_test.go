package settle_test

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// billed is what the invoices of an account dated December 1 to last
// (dec numbering) bill: the days whose usage each covers, and its fee
// lines by agreement, version and period.
type billed struct {
	days  map[string][]string // usage day → the invoices that cover it
	fees  map[string][]string // agreement/version/period → invoices
	total money.Micros
}

func (e *env) billed(account string, last int) billed {
	e.t.Helper()
	b := billed{days: map[string][]string{}, fees: map[string][]string{}}
	for d := 1; d <= last; d++ {
		inv, err := e.l.Invoice(e.ctx, ledger.InvoiceID(account, dec(d), "USD"))
		if errors.Is(err, ledger.ErrNotFound) {
			continue
		}
		if err != nil {
			e.t.Fatal(err)
		}
		days := inv.Covered
		for _, l := range inv.Lines {
			if days == nil && inv.From == "" && l.Count > 0 { // a daily invoice from the aggregate
				days = []string{inv.Day}
			}
		}
		for _, c := range days {
			b.days[c] = append(b.days[c], inv.ID)
		}
		for _, l := range inv.Lines {
			if l.Kind == ledger.LineFee {
				k := fmt.Sprintf("%s/v%d/%s", l.AgreementID, l.AgreementVersion, l.Site)
				b.fees[k] = append(b.fees[k], inv.ID)
			}
		}
		b.total += inv.Total
	}
	return b
}

// usage is what account's commitments of December 1 to last were charged,
// by day.
func (e *env) usage(account string, last int) map[string]money.Micros {
	e.t.Helper()
	out := map[string]money.Micros{}
	for d := 1; d <= last; d++ {
		err := e.l.Commitments(e.ctx, account, dec(d), func(c *ledger.Commitment) error {
			out[dec(d)] += c.Price
			return nil
		})
		if err != nil {
			e.t.Fatal(err)
		}
	}
	return out
}

// TestCadenceChangesInvoiceEveryDayOnce: whatever the changes of a
// crawler's settlement period in the middle of a period, every closed day
// is invoiced exactly once and every subscription fee billed exactly once:
// weekly → daily on a Thursday (Monday to Wednesday were closed waiting
// for the Sunday), monthly → weekly in the middle of the month, weekly →
// monthly in a week that straddles the new year, daily → monthly on the
// 15th (the daily invoices' days and the fee of the 1st are not billed
// again), weekly → daily with a weekly fee due on a Monday without usage.
// Each total is its days' commitments plus its fees, to the micro-unit.
func TestCadenceChangesInvoiceEveryDayOnce(t *testing.T) {
	e := newEnv(t, rails{})
	arr := newArrangements()
	e.arr = arr
	for _, a := range []string{"w2d", "w2dfee", "w2m"} {
		arr.set(a, agreement.CadenceWeek)
	}
	arr.set("m2w", agreement.CadenceMonth)
	arr.set("m2d", agreement.CadenceMonth)
	// d2m pays a monthly subscription in advance (its fee on December 1's
	// daily invoice); w2dfee a weekly one in advance from Monday the 8th.
	arr.add(sub("agr_d2m", 1, "d2m", month, time.Time{}, agreement.PeriodMonth, 31_000_000, false))
	arr.add(sub("agr_w2d", 1, "w2dfee", month.AddDate(0, 0, 7), time.Time{}, agreement.PeriodWeek, 7_000_000, false))
	// m2d pays a monthly subscription in advance, invoiced monthly until
	// it turns daily on the 29th: the fee and the 1st to the 28th were
	// waiting for the 31st.
	arr.add(sub("agr_m2d", 1, "m2d", month, time.Time{}, agreement.PeriodMonth, 1_000_000, false))
	for _, d := range []int{1, 2, 3, 4, 5, 9} {
		e.commit("w2d", noon(d), "pub-9", "other.example", money.Micros(1_000*d))
	}
	for _, d := range []int{2, 10, 17, 24} {
		e.commit("m2w", noon(d), "pub-9", "other.example", money.Micros(1_000*d))
	}
	for _, d := range []int{29, 30, 31, 32, 33} { // December 29 to January 2
		e.commit("w2m", noon(d), "pub-9", "other.example", money.Micros(1_000*d))
	}
	for _, d := range []int{1, 5, 20} {
		e.commit("d2m", noon(d), "pub-9", "other.example", money.Micros(1_000*d))
	}
	for _, d := range []int{1, 3, 20, 30} {
		e.commit("m2d", noon(d), "pub-9", "other.example", money.Micros(100_000))
	}
	e.commit("w2dfee", noon(9), "pub-9", "other.example", 9_000)
	e.commit("w2dfee", noon(12), "pub-9", "other.example", 12_000)

	s := e.settler(hooks{})
	e.closeDays(s, 1, 3)
	arr.setAt("w2d", agreement.CadenceDay, noon(4)) // Thursday
	e.closeDays(s, 4, 10)
	arr.setAt("w2dfee", agreement.CadenceDay, noon(11)) // Thursday
	e.closeDays(s, 11, 14)
	arr.setAt("d2m", agreement.CadenceMonth, noon(15))
	e.closeDays(s, 15, 15)
	arr.setAt("m2w", agreement.CadenceWeek, noon(16)) // Tuesday
	e.closeDays(s, 16, 28)
	arr.setAt("m2d", agreement.CadenceDay, noon(29))
	e.closeDays(s, 29, 32)
	arr.setAt("w2m", agreement.CadenceMonth, noon(33)) // Friday January 2
	e.closeDays(s, 33, 40)

	last := 40
	wantFees := map[string][]string{
		// January's fee waits for January's monthly invoice.
		"d2m":    {"agr_d2m/v1/" + dec(1) + ".." + dec(31)},
		"m2d":    {"agr_m2d/v1/" + dec(1) + ".." + dec(31), "agr_m2d/v1/" + dec(32) + ".." + dec(62)},
		"w2dfee": {"agr_w2d/v1/" + dec(8) + ".." + dec(14), "agr_w2d/v1/" + dec(15) + ".." + dec(21), "agr_w2d/v1/" + dec(22) + ".." + dec(28), "agr_w2d/v1/" + dec(29) + ".." + dec(35), "agr_w2d/v1/" + dec(36) + ".." + dec(42)},
	}
	feeOf := map[string]money.Micros{"d2m": 31_000_000, "w2dfee": 7_000_000, "m2d": 1_000_000}
	for _, acct := range []string{"w2d", "w2dfee", "m2w", "w2m", "d2m", "m2d"} {
		b := e.billed(acct, last)
		used := e.usage(acct, last)
		var want money.Micros
		var usageDays []string
		for d, m := range used {
			want += m
			usageDays = append(usageDays, d)
		}
		sort.Strings(usageDays)
		for _, d := range usageDays {
			if n := len(b.days[d]); n != 1 {
				t.Errorf("%s: the usage of %s is on %d invoices %v, want 1", acct, d, n, b.days[d])
			}
		}
		for d, invs := range b.days {
			if used[d] == 0 && len(invs) > 0 {
				t.Errorf("%s: %s has no usage and is covered by %v", acct, d, invs)
			}
		}
		var fees []string
		for k, invs := range b.fees {
			fees = append(fees, k)
			if len(invs) != 1 {
				t.Errorf("%s: fee %s on %d invoices %v, want 1", acct, k, len(invs), invs)
			}
		}
		sort.Strings(fees)
		if w := wantFees[acct]; strings.Join(fees, " ") != strings.Join(w, " ") {
			t.Errorf("%s: fees billed %v, want %v", acct, fees, w)
		}
		want += money.Micros(len(wantFees[acct])) * feeOf[acct]
		if b.total != want {
			t.Errorf("%s: invoiced %s, its commitments and fees are %s", acct, b.total, want)
		}
	}
	// Where the change put each account's days: w2d's Monday to Wednesday
	// on Thursday's invoice (the first daily one), with Thursday.
	w := e.invoice(ledger.InvoiceID("w2d", dec(4), "USD"))
	if w.From != dec(1) || strings.Join(w.Covered, ",") != strings.Join([]string{dec(1), dec(2), dec(3), dec(4)}, ",") || w.Total != 10_000 {
		t.Errorf("w2d's first daily invoice: from %s covers %v total %s", w.From, w.Covered, w.Total)
	}
	// w2dfee: the week's fee (due Monday the 8th, no usage) and Tuesday's
	// usage on Thursday's invoice, which says it bills from the 8th.
	f := e.invoice(ledger.InvoiceID("w2dfee", dec(11), "USD"))
	if f.From != dec(8) || strings.Join(f.Covered, ",") != dec(9) || f.Total != 7_009_000 {
		t.Errorf("w2dfee's first daily invoice: from %s covers %v total %s", f.From, f.Covered, f.Total)
	}
	// m2d: the month's fee and the 1st, 3rd and 20th on the 29th's
	// invoice, the first daily one (0.40 of 1.00 was invoiced without the
	// look-back: the 30th's usage only).
	md := e.invoice(ledger.InvoiceID("m2d", dec(29), "USD"))
	if md.From != dec(1) || strings.Join(md.Covered, ",") != strings.Join([]string{dec(1), dec(3), dec(20)}, ",") || md.Total != 1_300_000 {
		t.Errorf("m2d's first daily invoice: from %s covers %v total %s", md.From, md.Covered, md.Total)
	}
	// d2m: daily until the 14th, then one invoice on the 31st for the 20th only.
	m := e.invoice(ledger.InvoiceID("d2m", dec(31), "USD"))
	if len(m.Lines) != 1 || m.Total != 20_000 || strings.Join(m.Covered, ",") != dec(20) {
		t.Errorf("d2m's monthly invoice: lines %+v total %s covers %v", m.Lines, m.Total, m.Covered)
	}
}

// TestCadenceUnknownWhileRegistryDown: a day whose close finds the
// registry unreachable (settlement period unknown) is neither closed nor
// invoiced on a guess — no daily invoice for a weekly crawler; the close
// reports the error — and the next close, once the registry answers,
// invoices it with its period: the week's invoice covers every day once.
func TestCadenceUnknownWhileRegistryDown(t *testing.T) {
	e := newEnv(t, rails{})
	arr := newArrangements()
	e.arr = arr
	arr.set("wk", agreement.CadenceWeek)
	for d := 1; d <= 7; d++ {
		e.commit("wk", noon(d), "pub-9", "other.example", money.Micros(1_000*d))
	}
	s := e.settler(hooks{})
	e.closeDays(s, 1, 2)
	down := errors.New("registry unreachable")
	for _, d := range []int{3, 7} {
		if d == 7 {
			e.closeDays(s, 4, 6)
		}
		arr.fail(down)
		e.clock.Set(month.AddDate(0, 0, d).Add(e.cfg.Grace))
		if _, err := s.Close(e.ctx, dec(d)); !errors.Is(err, down) {
			t.Fatalf("close of %s with the registry down: %v", dec(d), err)
		}
		agg, err := e.l.Aggregate(e.ctx, "wk", dec(d))
		if err != nil {
			t.Fatal(err)
		}
		if agg.Closed || e.has("wk", dec(d)) {
			t.Fatalf("%s with the registry down: closed %v, invoice %v", dec(d), agg.Closed, e.has("wk", dec(d)))
		}
		arr.fail(nil)
	}
	// The registry is back; December 3 was never closed by its own close
	// (the cron's next run would), the Sunday's close takes it in.
	e.closeDays(s, 7, 7)
	inv := e.invoice(ledger.InvoiceID("wk", dec(7), "USD"))
	if inv.From != dec(1) || len(inv.Covered) != 7 || inv.Total != 28_000 || inv.Check != ledger.CheckOK {
		t.Fatalf("the week's invoice: from %s covers %v total %s check %q", inv.From, inv.Covered, inv.Total, inv.Check)
	}
	e.closeDays(s, 3, 3) // the retry of December 3 bills nothing again
	if e.has("wk", dec(3)) {
		t.Fatal("December 3's retried close made an invoice of its own")
	}
}
