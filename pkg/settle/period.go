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

// lookBack is how many days before the day it closes the settler looks,
// while a change of a crawler's settlement period is recent, for days and
// fees the change left uninvoiced: a month's worth, the longest period
// (an invoice covers at most 31 days).
const lookBack = 30

// changedLately reports whether a settlement period set at since may have
// left uninvoiced days among the lookBack days before the day starting at
// dayStart (since zero: never set, daily from the start).
func changedLately(since, dayStart time.Time) bool {
	return !since.IsZero() && since.After(dayStart.AddDate(0, 0, -(lookBack+1)))
}

// closeArranged closes one crawler-day of a crawler with Arrangements. It
// returns handled=false when the crawler is daily, has no agreement in
// force that day and nothing a change of its settlement period left
// uninvoiced: the caller invoices it from its aggregate, as before.
//
// Every closed day is invoiced once whatever the changes of the setting:
//   - a day in the middle of its period (as the setting is when it
//     closes) is closed and waits for the period's last day;
//   - the close of a period's last day invoices every day of the period
//     not yet invoiced, and the subscription fees due on them that no
//     invoice bears yet (a fee line names its agreement, version and
//     subscription period: it is looked for on the invoices that may
//     bear it, so daily → monthly in the middle of a month bills the
//     fee of its first day once);
//   - while the setting changed in the last lookBack+1 days, the close of
//     any day also looks back lookBack days for days closed but not
//     invoiced before its period's start, and for fees due then and not
//     billed (a switch from weekly or monthly back to daily, or from
//     monthly to weekly, leaves such days waiting for a period end that
//     no longer comes): they are invoiced now, with the day's period if it
//     ends, else on an invoice of their own dated this day, which also
//     takes the period's days closed so far (paid early, never twice).
//
// An unknown setting (the registry unreachable) closes nothing: the error
// is returned, and the next run closes the day once the setting is known.
func (s *Settler) closeArranged(ctx context.Context, ss *session, account, day string) (accountClose, bool, error) {
	r := accountClose{totals: map[string]money.Micros{}}
	cad, since, err := s.arr.Cadence(ctx, account)
	if err != nil {
		return r, true, fmt.Errorf("settlement period: %w", err)
	}
	period, err := agreement.PeriodOfDay(cad, day)
	if err != nil {
		return r, true, err
	}
	days := period.Days()
	first, end := days[0], days[len(days)-1] == day
	sweep := changedLately(since, mustDay(day))
	if !end && !sweep {
		return r, true, s.closeMidPeriod(ctx, account, day)
	}
	all, err := s.arr.Agreements(ctx, account)
	if err != nil {
		return r, true, fmt.Errorf("agreements: %w", err)
	}
	feeSpan := period
	var orphans []string
	if lo := mustDay(day).AddDate(0, 0, -lookBack); sweep && lo.Before(period.Start) {
		feeSpan.Start = lo
		if orphans, err = s.uncovered(ctx, account, agreement.Span{Start: lo, End: period.Start}.Days()); err != nil {
			return r, true, err
		}
	}
	due, err := s.feesDue(ctx, account, all, feeSpan, day)
	if err != nil {
		return r, true, err
	}
	if !end {
		early := len(orphans) > 0
		for _, f := range due {
			early = early || f.on < first
		}
		if !early {
			return r, true, s.closeMidPeriod(ctx, account, day)
		}
	}
	if cad == agreement.CadenceDay && len(orphans) == 0 && len(due) == 0 && len(inForce(all, period)) == 0 {
		return r, false, nil
	}
	var own []string
	for _, d := range days {
		if d <= day {
			own = append(own, d)
		}
	}
	from := first // the first day the invoice bills: usage or a fee's day
	if len(orphans) > 0 && orphans[0] < from {
		from = orphans[0]
	}
	for _, f := range due {
		if f.on < from {
			from = f.on
		}
	}
	b, err := s.buildDays(ctx, account, from, append(orphans, own...), day, due)
	if err != nil {
		return r, true, err
	}
	var invs []*ledger.Invoice
	for _, cur := range b.currencies() {
		inv, created, err := s.l.CreateLinesInvoice(ctx, ledger.LinesInvoice{
			Account: account, Day: day, From: from, Currency: cur, Covered: b.covered[cur],
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
	if err := s.checkInvoices(ctx, ss, &r, account, b.allCovered(), invs); err != nil {
		return r, true, err
	}
	return r, true, s.holdUnclaimedFees(ctx, ss, &r, all, invs)
}

// closeMidPeriod closes a day in the middle of its period, if it has
// usage: it is invoiced with the period.
func (s *Settler) closeMidPeriod(ctx context.Context, account, day string) error {
	agg, err := s.l.Aggregate(ctx, account, day)
	if err != nil || len(agg.Currencies) == 0 {
		return err
	}
	_, err = s.l.CloseDay(ctx, account, day)
	return err
}

// covered reports whether an invoice other than one dated last bills
// account's usage of day d in cur: an invoice of several days marked it
// (Aggregate.InvoicedOn), or d has an invoice of its own (a daily
// invoice, or a period's dated d: an invoice dated d always bills d's
// usage).
func (s *Settler) covered(ctx context.Context, account, d, last string, agg *ledger.Aggregate, cur string) (bool, error) {
	if on := agg.InvoicedOn[cur]; on != "" {
		return on != last, nil
	}
	if d == last {
		return false, nil
	}
	_, err := s.l.Invoice(ctx, ledger.InvoiceID(account, d, cur))
	if errors.Is(err, ledger.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// uncovered returns the days among days with usage in a currency that no
// invoice bills yet.
func (s *Settler) uncovered(ctx context.Context, account string, days []string) ([]string, error) {
	var out []string
	for _, d := range days {
		agg, err := s.l.Aggregate(ctx, account, d)
		if err != nil {
			return nil, err
		}
		for cur, t := range agg.Currencies {
			if t.Count == 0 {
				continue
			}
			c, err := s.covered(ctx, account, d, "", agg, cur)
			if err != nil {
				return nil, err
			}
			if !c {
				out = append(out, d)
				break
			}
		}
	}
	return out, nil
}

// feeDue is a fee line and its fee day.
type feeDue struct {
	FeeLine
	on string
}

// feesDue returns the fee lines due on the invoice of account dated last
// covering span up to last (FeeLines) that no other invoice bears: each
// is looked for on the invoices dated from its fee day to lookBack days
// later, the only ones that may bear it.
func (s *Settler) feesDue(ctx context.Context, account string, versions []agreement.Agreement, span agreement.Span, last string) ([]feeDue, error) {
	all, err := feeLines(versions, span, last)
	if err != nil {
		return nil, err
	}
	var out []feeDue
	for _, f := range all {
		billed := false
		on := mustDay(f.on)
		for i := 0; i <= lookBack && !billed; i++ {
			d := ledger.Day(on.AddDate(0, 0, i))
			if d == last {
				continue
			}
			inv, err := s.l.Invoice(ctx, ledger.InvoiceID(account, d, f.Currency))
			if errors.Is(err, ledger.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, l := range inv.Lines {
				if l.Kind == ledger.LineFee && l.AgreementID == f.AgreementID && l.AgreementVersion == f.AgreementVersion && l.Site == f.Site {
					billed = true
				}
			}
		}
		if !billed {
			out = append(out, f)
		}
	}
	return out, nil
}

// periodBuild is what one invoice of several days is made of, by
// currency.
type periodBuild struct {
	from, last string
	lines      map[string][]ledger.Line
	covered    map[string][]string
	count      map[string]int64
	fees       map[string]int
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
	what := "the day's usage"
	if b.from != b.last {
		what = fmt.Sprintf("the usage of %s..%s", b.from, b.last)
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

// buildDays closes each of days (sorted, from the invoice's first day
// from up to its day last), sums the commitments of those no other
// invoice bills into lines by publisher site, agreement and kind, and adds
// the fee lines due.
func (s *Settler) buildDays(ctx context.Context, account, from string, days []string, last string, due []feeDue) (*periodBuild, error) {
	b := &periodBuild{from: from, last: last, lines: map[string][]ledger.Line{}, covered: map[string][]string{},
		count: map[string]int64{}, fees: map[string]int{}}
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
			c, err := s.covered(ctx, account, d, last, agg, cur)
			if err != nil {
				return nil, err
			}
			if c {
				continue // another invoice bills it
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
	for _, f := range due {
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
	due, err := feeLines(versions, period, last)
	out := make([]FeeLine, len(due))
	for i, f := range due {
		out[i] = f.FeeLine
	}
	return out, err
}

// feeLines is FeeLines with each line's fee day.
func feeLines(versions []agreement.Agreement, period agreement.Span, last string) ([]feeDue, error) {
	var out []feeDue
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
			out = append(out, feeDue{on: on, FeeLine: FeeLine{Currency: v.Currency, Line: ledger.Line{
				Publisher: v.Publisher, Site: sd[fa] + ".." + sd[fb-1], Amount: money.Micros(fee),
				Kind: ledger.LineFee, AgreementID: v.ID, AgreementVersion: int64(v.Version)}}})
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
