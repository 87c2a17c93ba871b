package settle_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/archive/localstore"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// TestArchiveOfPeriodDays: the days of a weekly crawler on a subscription
// (one invoice for the week, lines by site, agreement, version and charge
// kind, and a fee line) and the day of a daily crawler on a negotiated rate
// stay in Redis while their invoices are not final; once Stripe
// (stripe-mock) paid them, the cold tier archives and trims every covered
// day, its checks re-deriving each invoice from the archived commitments
// and the agreements (settle.LinesCheck), and the days read back from the
// archive as they read from Redis. An invoice line or a fee changed in the
// ledger is then found by archive.Check; an archiver without the check
// keeps such days.
func TestArchiveOfPeriodDays(t *testing.T) {
	e := newEnv(t, rails{stripe: true})
	arr := newArrangements()
	e.arr = arr
	arr.set("wk", agreement.CadenceWeek)
	w := sub("agr_w", 1, "wk", month, month.AddDate(0, 1, 0), agreement.PeriodWeek, 7_000_000, false)
	w.Terms.Subscription.Included = 3
	rate := sub("agr_d", 1, "dl", month, month.AddDate(0, 1, 0), agreement.PeriodMonth, 0, false)
	rate.Terms = agreement.Terms{Kind: agreement.KindRate, Rate: &agreement.Rate{Mode: agreement.RateDiscount, DiscountBPS: 2_500}}
	arr.add(w)
	arr.add(rate)
	for _, acct := range []string{"wk", "dl"} {
		e.stripePayer(acct, "pm_card_visa")
	}
	e.agreed("wk", noon(2), w, 5_000, 2)                      // quota
	e.commit("wk", noon(3), "pub-2", "news.example", 400_000) // no agreement: list
	e.agreed("wk", noon(4), w, 5_000, 3)                      // 1 quota, 2 overage at 0.01
	e.agreed("dl", noon(3), rate, 1_000_000, 2)               // 0.75 each
	e.commit("dl", noon(3), "pub-2", "news.example", 300_000) // list
	covered := []string{dec(2), dec(3), dec(4)}

	st, err := localstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	check := settle.LinesCheck{Arrangements: arr}
	a, err := archive.New(archive.Options{Ledger: e.l, Store: st, TempDir: t.TempDir(), Now: e.clock.Now, Invoices: check})
	if err != nil {
		t.Fatal(err)
	}
	s := e.settler(hooks{})
	e.closeDays(s, 1, 7)
	week := e.invoice(ledger.InvoiceID("wk", dec(7), "USD"))
	if !reflect.DeepEqual(week.Covered, covered) || week.Total != 7_000_000+400_000+20_000 {
		t.Fatalf("weekly invoice covers %v, total %s: %+v", week.Covered, week.Total, week.Lines)
	}
	daily := e.invoice(ledger.InvoiceID("dl", dec(3), "USD"))
	if daily.Covered == nil || daily.Total != 1_800_000 {
		t.Fatalf("daily invoice on agreements: total %s, lines %+v", daily.Total, daily.Lines)
	}

	// Not paid yet: every covered day stays, saying which invoice it waits for.
	for _, d := range covered {
		rep, err := a.ArchiveDay(e.ctx, d)
		if err != nil || len(rep.Archived) != 0 || !strings.Contains(rep.Kept["wk"], week.ID) {
			t.Fatalf("ArchiveDay(%s) before payment = %+v, %v", d, rep, err)
		}
	}
	if _, err := s.Approve(e.ctx, dec(7)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Approve(e.ctx, dec(3)); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dec(3), dec(7)} {
		if _, err := s.Charge(e.ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{week.ID, daily.ID} {
		if inv := e.invoice(id); inv.Status != ledger.StatusPaid {
			t.Fatalf("invoice %s is %s, want paid", id, inv.Status)
		}
	}

	// What Redis gives before the archive.
	tiered := &archive.Tiered{Ledger: e.l, Store: st}
	type view struct {
		agg         *ledger.Aggregate
		commitments []*ledger.Commitment
	}
	look := func(account, day string) view {
		t.Helper()
		var v view
		if v.agg, err = tiered.Aggregate(e.ctx, account, day); err != nil {
			t.Fatal(err)
		}
		if err := tiered.Commitments(e.ctx, account, day, func(c *ledger.Commitment) error {
			c.PublicKey = "" // only the archive carries the key
			v.commitments = append(v.commitments, c)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return v
	}
	hot := map[string]view{}
	for _, d := range covered {
		hot["wk "+d] = look("wk", d)
	}
	hot["dl "+dec(3)] = look("dl", dec(3))

	// Without the lines check the archive cannot vouch for these invoices.
	blind, err := archive.New(archive.Options{Ledger: e.l, Store: st, TempDir: t.TempDir(), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := blind.ArchiveDay(e.ctx, dec(2))
	if err == nil || len(rep.Archived) != 0 || rep.Kept["wk"] != "segment does not verify" || e.hot("wk", dec(2)) != 2 {
		t.Fatalf("ArchiveDay without the lines check = %+v, %v", rep, err)
	}

	for _, d := range covered {
		rep, err := a.ArchiveDay(e.ctx, d)
		wantTrimmed := []string{"wk"}
		if d == dec(3) {
			wantTrimmed = []string{"dl", "wk"}
		}
		if err != nil || !reflect.DeepEqual(rep.Trimmed, wantTrimmed) || len(rep.Kept) != 0 {
			t.Fatalf("ArchiveDay(%s) after payment = %+v, %v", d, rep, err)
		}
	}
	for k, v := range hot {
		account, day, _ := strings.Cut(k, " ")
		if n := e.hot(account, day); n != 0 {
			t.Fatalf("Redis still holds %d commitments of %s", n, k)
		}
		if cold := look(account, day); !reflect.DeepEqual(cold, v) || len(cold.commitments) == 0 {
			t.Fatalf("%s from the archive:\n%+v\nfrom Redis:\n%+v", k, cold, v)
		}
	}
	if rep, err := a.Check(e.ctx, ""); err != nil || !rep.OK() || rep.Segments != 4 {
		t.Fatalf("Check = %+v, %v", rep, err)
	}

	// A line changed in the ledger no longer re-derives.
	tamper := func(id string, line int, field, value string) (restore func()) {
		t.Helper()
		acct, day, cur, err := ledger.ParseInvoiceID(id)
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("%s:{%s}:inv:%s:%s", ledger.DefaultPrefix, acct, day, cur)
		f := fmt.Sprintf("l%d.%s", line, field)
		old, err := e.rdb.HGet(e.ctx, key, f).Result()
		if err != nil {
			t.Fatalf("HGET %s %s: %v", key, f, err)
		}
		if err := e.rdb.HSet(e.ctx, key, f, value).Err(); err != nil {
			t.Fatal(err)
		}
		return func() { e.rdb.HSet(e.ctx, key, f, old) }
	}
	lineOf := func(inv *ledger.Invoice, kind string) int {
		for i, l := range inv.Lines {
			if l.Kind == kind {
				return i
			}
		}
		t.Fatalf("invoice %s has no %s line: %+v", inv.ID, kind, inv.Lines)
		return 0
	}
	for _, c := range []struct {
		name, id, kind, field, value, want string
	}{
		{"overage amount", week.ID, ledger.LineOverage, "amount", "10000", "overage under agr_w v1"},
		{"quota count", week.ID, ledger.LineQuota, "count", "2", "quota under agr_w v1"},
		{"fee", week.ID, ledger.LineFee, "amount", "6999999", "a fee of agreement agr_w v1"},
		{"rate kind", daily.ID, ledger.LineRate, "kind", ledger.LineList, "are on no line"},
	} {
		restore := tamper(c.id, lineOf(e.invoice(c.id), c.kind), c.field, c.value)
		rep, err := a.Check(e.ctx, "")
		restore()
		if err != nil || rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), c.want) {
			t.Errorf("%s changed: Check = %+v, %v; want a problem naming %q", c.name, rep, err, c.want)
		}
	}
	if rep, err := a.Check(e.ctx, ""); err != nil || !rep.OK() {
		t.Fatalf("Check after restoring = %+v, %v", rep, err)
	}
}

// TestRunOnceArchivesTheWholePeriod: the daily run that pays a weekly
// invoice archives every day it covers, not only the day it is dated, as
// it archives a daily invoice's day once paid.
func TestRunOnceArchivesTheWholePeriod(t *testing.T) {
	e := newEnv(t, rails{stripe: true})
	arr := newArrangements()
	e.arr = arr
	arr.set("wk", agreement.CadenceWeek)
	e.stripePayer("wk", "pm_card_visa")
	e.commit("wk", noon(2), "pub-1", "example.com", 300_000)
	e.commit("wk", noon(7), "pub-1", "example.com", 400_000)
	st, err := localstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := archive.New(archive.Options{Ledger: e.l, Store: st, TempDir: t.TempDir(), Now: e.clock.Now,
		Invoices: settle.LinesCheck{Arrangements: arr}})
	if err != nil {
		t.Fatal(err)
	}
	s := e.settler(hooks{archiver: a})
	e.clock.Set(month.AddDate(0, 0, 7).Add(e.cfg.Grace))
	rep := mustRun(t, s, e.ctx)
	if inv := e.invoice(ledger.InvoiceID("wk", dec(7), "USD")); inv.Status != ledger.StatusPaid || inv.Total != 700_000 {
		t.Fatalf("weekly invoice %s, total %s", inv.Status, inv.Total)
	}
	last := rep.Days[len(rep.Days)-1]
	if last.Day != dec(7) || len(last.ArchivedCovered) != 1 || last.ArchivedCovered[0].Day != dec(2) {
		t.Fatalf("run of %s archived the covered days %+v", last.Day, last.ArchivedCovered)
	}
	for _, d := range []string{dec(2), dec(7)} {
		if n := e.hot("wk", d); n != 0 {
			t.Errorf("%s: %d commitments still in Redis", d, n)
		}
	}
}
