package settle

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// Settlement periods and agreements (Options.Arrangements).
//
// The ledger still closes one crawler-day at a time, after its grace. A
// crawler on weekly or monthly settlement gets no invoice for the days in
// the middle of its period: each is closed to late commitments when its
// grace passes, and the close of the period's last day builds one invoice
// per currency covering every day of the period (dated that last day, its
// From the period's first day), charged once like any invoice. Weeks and
// months start at 00:00 UTC, so a period never splits a crawler-day.
//
// A crawler with agreements in force gets its invoices built from its
// commitments (usage lines by publisher site, agreement, version and
// charge kind) and from its subscriptions (fee lines, prorated), rather
// than from the day's aggregate; a daily crawler without agreements is
// invoiced as before. A day the crawler's earlier daily invoice covers
// (the setting changed in the middle of a period) is not covered again.
//
// Subscription fees: each version of a subscription bears, for each of its
// periods, the share of the fee its whole days in force give it
// (agreement.ProrateFee); in advance, the line goes on the invoice that
// covers the first of those days, in arrears on the one that covers the
// last. "In advance" therefore means the first invoice of the period, made
// when its first day closes: the ledger invoices closed days, never future
// ones.

// closeArranged closes one crawler-day of a crawler with Arrangements. It
// returns handled=false when the crawler is daily and has no agreement in
// force that day: the caller invoices it from its aggregate, as before.
func (s *Settler) closeArranged(ctx context.Context, ss *session, account, day string) (accountClose, bool, error) {
	r := accountClose{totals: map[string]money.Micros{}}
	cad, err := s.arr.Cadence(ctx, account)
	if err != nil {
		return r, true, fmt.Errorf("settlement period: %w", err)
	}
	period, err := agreement.PeriodOfDay(cad, day)
	if err != nil {
		return r, true, err
	}
	days := period.Days()
	if days[len(days)-1] != day {
		// The middle of a period: closed now, invoiced with the period.
		agg, err := s.l.Aggregate(ctx, account, day)
		if err != nil || len(agg.Currencies) == 0 {
			return r, true, err
		}
		_, err = s.l.CloseDay(ctx, account, day)
		return r, true, err
	}
	all, err := s.arr.Agreements(ctx, account)
	if err != nil {
		return r, true, fmt.Errorf("agreements: %w", err)
	}
	if cad == agreement.CadenceDay && len(inForce(all, period)) == 0 {
		return r, false, nil
	}
	b, err := s.buildPeriod(ctx, account, period, all)
	if err != nil {
		return r, true, err
	}
	var invs []*ledger.Invoice
	for _, cur := range b.currencies() {
		inv, created, err := s.l.CreateLinesInvoice(ctx, ledger.LinesInvoice{
			Account: account, Day: day, From: days[0], Currency: cur, Covered: b.covered[cur],
			Lines: b.lines[cur], Actor: s.cfg.Actor, Reason: b.reason(cur),
		})
		if err != nil {
			return r, true, err
		}
		r.invoices++
		if created {
			r.created++
		}
		r.count += b.count[cur]
		r.totals[cur] += inv.Total
		invs = append(invs, inv)
	}
	err = s.checkInvoices(ctx, ss, &r, account, b.allCovered(), invs)
	return r, true, err
}

// periodBuild is what one settlement period's invoices are made of, by
// currency.
type periodBuild struct {
	period  agreement.Span
	lines   map[string][]ledger.Line
	covered map[string][]string
	count   map[string]int64
	fees    map[string]int
}

func (b *periodBuild) currencies() []string {
	out := make([]string, 0, len(b.lines))
	for cur, ls := range b.lines {
		if len(ls) > 0 {
			out = append(out, cur)
		}
	}
	sort.Strings(out)
	return out
}

func (b *periodBuild) allCovered() []string {
	seen := map[string]bool{}
	var out []string
	for _, ds := range b.covered {
		for _, d := range ds {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (b *periodBuild) reason(cur string) string {
	days := b.period.Days()
	what := "the day's usage"
	if len(days) > 1 {
		what = fmt.Sprintf("the usage of %s..%s", days[0], days[len(days)-1])
	}
	noun := "days"
	if len(b.covered[cur]) == 1 {
		noun = "day"
	}
	return fmt.Sprintf("created from %s (%d %s with usage) and agreements (%d fee lines)", what, len(b.covered[cur]), noun, b.fees[cur])
}

// lineKey groups usage lines.
type lineKey struct {
	publisher, site, agr, kind string
	version                    int64
}

// buildPeriod closes every day of period up to its last, sums their
// commitments into lines by publisher site, agreement and kind, and adds
// the subscription fee lines due on those days.
func (s *Settler) buildPeriod(ctx context.Context, account string, period agreement.Span, agrs []agreement.Agreement) (*periodBuild, error) {
	b := &periodBuild{period: period, lines: map[string][]ledger.Line{}, covered: map[string][]string{},
		count: map[string]int64{}, fees: map[string]int{}}
	days := period.Days()
	last := days[len(days)-1]
	sums := map[string]map[lineKey]*ledger.Line{}
	var order []string
	for _, d := range days {
		agg, err := s.l.CloseDay(ctx, account, d)
		if err != nil {
			return nil, err
		}
		want := map[string]bool{}
		for cur, t := range agg.Currencies {
			if t.Count == 0 {
				continue
			}
			if on := agg.InvoicedOn[cur]; on != "" && on != last {
				continue // another period's invoice covers it
			}
			if d != last {
				// A daily invoice of its own (the setting changed): not again.
				_, err := s.l.Invoice(ctx, ledger.InvoiceID(account, d, cur))
				if err == nil {
					continue
				}
				if !errors.Is(err, ledger.ErrNotFound) {
					return nil, err
				}
			}
			want[cur] = true
			b.covered[cur] = append(b.covered[cur], d)
		}
		if len(want) == 0 {
			continue
		}
		err = s.l.Commitments(ctx, account, d, func(c *ledger.Commitment) error {
			if !want[c.Currency] {
				return nil
			}
			id, ver, kind := ChargeOf(c)
			k := lineKey{publisher: c.Publisher, site: c.Site, agr: id, version: ver, kind: kind}
			m := sums[c.Currency]
			if m == nil {
				m = map[lineKey]*ledger.Line{}
				sums[c.Currency] = m
				order = append(order, c.Currency)
			}
			l := m[k]
			if l == nil {
				l = &ledger.Line{Publisher: c.Publisher, Site: c.Site, Kind: kind, AgreementID: id, AgreementVersion: ver}
				m[k] = l
			}
			l.Count++
			l.Amount += c.Price
			b.count[c.Currency]++
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for cur, m := range sums {
		ls := make([]ledger.Line, 0, len(m))
		for _, l := range m {
			ls = append(ls, *l)
		}
		sortLines(ls)
		b.lines[cur] = ls
	}
	fees, err := FeeLines(agrs, period, last)
	if err != nil {
		return nil, err
	}
	for _, f := range fees {
		b.lines[f.Currency] = append(b.lines[f.Currency], f.Line)
		b.fees[f.Currency]++
	}
	return b, nil
}

// sortLines orders usage lines by publisher, site, agreement, version, kind.
func sortLines(ls []ledger.Line) {
	sort.Slice(ls, func(i, j int) bool {
		a, b := ls[i], ls[j]
		switch {
		case a.Publisher != b.Publisher:
			return a.Publisher < b.Publisher
		case a.Site != b.Site:
			return a.Site < b.Site
		case a.AgreementID != b.AgreementID:
			return a.AgreementID < b.AgreementID
		case a.AgreementVersion != b.AgreementVersion:
			return a.AgreementVersion < b.AgreementVersion
		}
		return a.Kind < b.Kind
	})
}

// FeeLine is a subscription fee line and its currency.
type FeeLine struct {
	Currency string
	ledger.Line
}

// FeeLines returns the subscription fee lines due on the invoice that
// covers period up to and including its day last, among versions (every
// version of a crawler's agreements; the accepted ones count, each in
// force in its agreement.Windows): for each subscription version and each
// of its periods that overlaps period, the prorated fee
// (agreement.FeeDays, agreement.Share) if its fee day (agreement.FeeDay:
// in advance the first whole day in force, in arrears the last) falls in
// [period.Start, last]. A fee line has Count 0, kind fee, the agreement's
// publisher (whose earnings it is) and, as its site, the days of the
// subscription period it pays for ("YYYY-MM-DD..YYYY-MM-DD"). Zero fees
// give no line. Lines are sorted by agreement, version and period.
func FeeLines(versions []agreement.Agreement, period agreement.Span, last string) ([]FeeLine, error) {
	var out []FeeLine
	first := period.Days()[0]
	for _, v := range inForce(versions, period) {
		sub := v.subscription()
		if sub == nil || sub.Fee <= 0 {
			continue
		}
		subs, err := agreement.Periods(agreement.Cadence(sub.Period), period)
		if err != nil {
			return nil, fmt.Errorf("agreement %s v%d: %w", v.ID, v.Version, err)
		}
		for _, sp := range subs {
			fa, fb := agreement.FeeDays(sp, v.span)
			on := agreement.FeeDay(sp, fa, fb, sub.FeeTiming == agreement.FeeInArrears)
			if on == "" || on < first || on > last {
				continue
			}
			fee, err := agreement.Share(int64(sub.Fee), fa, fb, sp.DayCount())
			if err != nil {
				return nil, fmt.Errorf("agreement %s v%d: %w", v.ID, v.Version, err)
			}
			if fee == 0 {
				continue
			}
			sd := sp.Days()
			out = append(out, FeeLine{Currency: v.Currency, Line: ledger.Line{
				Publisher: v.Publisher, Site: sd[fa] + ".." + sd[fb-1], Amount: money.Micros(fee),
				Kind: ledger.LineFee, AgreementID: v.ID, AgreementVersion: int64(v.Version)}})
		}
	}
	return out, nil
}

// candidates are the accounts whose invoices the close of day may have to
// build besides those with usage on it: those with usage earlier in a week
// or month that day ends (weekly and monthly crawlers), and subscribers
// whose fees may fall due.
func (s *Settler) candidates(ctx context.Context, day string, accounts []string) ([]string, error) {
	t, err := agreement.ParseDay(day)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, a := range accounts {
		seen[a] = true
	}
	out := append([]string(nil), accounts...)
	add := func(as []string) {
		for _, a := range as {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	var earlier []string
	for _, c := range []agreement.Cadence{agreement.CadenceWeek, agreement.CadenceMonth} {
		p, _ := agreement.PeriodOf(c, t)
		if !p.End.Equal(t.Add(24 * time.Hour)) {
			continue // day does not end this period
		}
		for _, d := range p.Days() {
			if d < day {
				earlier = append(earlier, d)
			}
		}
	}
	sort.Strings(earlier)
	for i, d := range earlier {
		if i > 0 && earlier[i-1] == d {
			continue
		}
		as, err := s.l.ScanAccounts(ctx, d)
		if err != nil {
			return nil, err
		}
		add(as)
	}
	week, _ := agreement.PeriodOf(agreement.CadenceWeek, t)
	month, _ := agreement.PeriodOf(agreement.CadenceMonth, t)
	from := week.Start
	if month.Start.Before(from) {
		from = month.Start
	}
	subs, err := s.arr.Accounts(ctx, agreement.Span{Start: from, End: t.Add(24 * time.Hour)}, agreement.KindSubscription)
	if err != nil {
		return nil, fmt.Errorf("settle: subscribers: %w", err)
	}
	add(subs)
	sort.Strings(out)
	return out, nil
}
