package settle

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// maxLinesProblems bounds what LinesCheck reports of one invoice.
const maxLinesProblems = 20

// LinesCheck is the cold tier's check of an invoice the settler built from
// computed lines (closeArranged: a weekly or monthly invoice, or a daily
// one of a crawler on agreements; archive.Options.Invoices). It re-derives
// the invoice from what it bills, never from what it says: every
// commitment of its covered days in its currency is held to the agreement
// version it names (ChargeCheck, fed the crawler's commitments from the
// start of each subscription period concerned), summed into usage lines
// by publisher site, agreement, version and charge kind (ChargeOf), and
// the fee lines are those the subscriptions imply (FeeLines). A correct
// invoice gives no problem; a line changed, missing or added gives one.
type LinesCheck struct {
	// Arrangements gives the crawlers' agreements; nil checks invoices as
	// if no crawler had one (a commitment or a fee line naming an
	// agreement is then a problem).
	Arrangements Arrangements
}

var _ archive.InvoiceCheck = LinesCheck{}

// CheckInvoice returns what does not hold on inv, one sentence each; an
// error means the check could not run.
func (k LinesCheck) CheckInvoice(ctx context.Context, inv *ledger.Invoice, read archive.DayReader) ([]string, error) {
	span, err := InvoiceSpan(inv)
	if err != nil {
		return nil, err
	}
	var agrs []agreement.Agreement
	if k.Arrangements != nil {
		if agrs, err = k.Arrangements.Agreements(ctx, inv.Account); err != nil {
			return nil, fmt.Errorf("settle: agreements of %s: %w", inv.Account, err)
		}
	}
	var problems []string
	problem := func(format string, args ...any) {
		if len(problems) < maxLinesProblems {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	charges := NewChargeCheck(agrs)
	covered := map[string]bool{}
	for _, d := range inv.Covered {
		covered[d] = true
	}
	first := QuotaFrom(agrs, span.Start)
	got := map[lineKey]*ledger.Line{}
	for d := first; d.Before(span.End); d = d.AddDate(0, 0, 1) {
		day := ledger.Day(d)
		billed := covered[day]
		err := read(ctx, inv.Account, day, func(c *ledger.Commitment) error {
			if !billed || c.Currency != inv.Currency {
				charges.Count(c)
				return nil
			}
			if why := charges.Check(c); why != "" {
				problem("commitment %s of %s: %s", c.ID, day, why)
			}
			id, ver, kind := ChargeOf(c)
			key := lineKey{publisher: c.Publisher, site: c.Site, agr: id, version: ver, kind: kind}
			l := got[key]
			if l == nil {
				l = &ledger.Line{Publisher: c.Publisher, Site: c.Site, Kind: kind, AgreementID: id, AgreementVersion: ver}
				got[key] = l
			}
			l.Count++
			l.Amount += c.Price
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	fees, err := FeeLines(agrs, span, inv.Day)
	if err != nil {
		problem("the fee lines could not be re-derived: %v", err)
	}
	type feeKey struct {
		publisher, site, agr string
		version              int64
	}
	wantFees := map[feeKey]money.Micros{}
	for _, f := range fees {
		if f.Currency == inv.Currency {
			wantFees[feeKey{f.Publisher, f.Site, f.AgreementID, f.AgreementVersion}] = f.Amount
		}
	}
	for i, l := range inv.Lines {
		switch l.Kind {
		case ledger.LineFee:
			fk := feeKey{l.Publisher, l.Site, l.AgreementID, l.AgreementVersion}
			want, ok := wantFees[fk]
			delete(wantFees, fk)
			if !ok || l.Amount != want || l.Count != 0 {
				problem("line %d, a fee of agreement %s v%d for %s: %d for %s %s; its subscription implies %s %s",
					i+1, l.AgreementID, l.AgreementVersion, l.Site, l.Count, inv.Currency, l.Amount, inv.Currency, want)
			}
			continue
		case ledger.LineTopUp:
			problem("line %d: a top-up line on an invoice that covers days", i+1)
			continue
		}
		kind := l.Kind
		if kind == "" {
			kind = ledger.LineList
		}
		key := lineKey{publisher: l.Publisher, site: l.Site, agr: l.AgreementID, version: l.AgreementVersion, kind: kind}
		var want ledger.Line
		if g := got[key]; g != nil {
			want = *g
		}
		delete(got, key)
		if l.Count != want.Count || l.Amount != want.Amount {
			problem("line %d, %s %s%s: %d for %s %s; its commitments are %d for %s %s",
				i+1, l.Publisher, l.Site, describeLine(kind, l.AgreementID, l.AgreementVersion),
				l.Count, inv.Currency, l.Amount, want.Count, inv.Currency, want.Amount)
		}
	}
	var missing []string
	for _, l := range got {
		missing = append(missing, fmt.Sprintf("%d commitments for %s %s on %s %s%s are on no line",
			l.Count, inv.Currency, l.Amount, l.Publisher, l.Site, describeLine(l.Kind, l.AgreementID, l.AgreementVersion)))
	}
	for fk, amount := range wantFees {
		missing = append(missing, fmt.Sprintf("agreement %s v%d implies a fee of %s %s for %s that is not on the invoice",
			fk.agr, fk.version, inv.Currency, amount, fk.site))
	}
	sort.Strings(missing)
	for _, m := range missing {
		problem("%s", m)
	}
	return problems, nil
}

// InvoiceSpan is the settlement period an invoice covers: From (or Day)
// to the end of Day.
func InvoiceSpan(inv *ledger.Invoice) (agreement.Span, error) {
	from := inv.From
	if from == "" {
		from = inv.Day
	}
	start, err := agreement.ParseDay(from)
	if err != nil {
		return agreement.Span{}, err
	}
	end, err := agreement.ParseDay(inv.Day)
	if err != nil {
		return agreement.Span{}, err
	}
	return agreement.Span{Start: start, End: end.Add(24 * time.Hour)}, nil
}

// QuotaFrom is where a re-derivation of charges from start on must begin
// counting quota (ChargeCheck.Count): the start of the earliest
// subscription period among agrs that contains start, or start.
func QuotaFrom(agrs []agreement.Agreement, start time.Time) time.Time {
	first := start
	for _, a := range agrs {
		if a.Terms.Kind != agreement.KindSubscription || a.Terms.Subscription == nil {
			continue
		}
		if p, err := agreement.PeriodOf(agreement.Cadence(a.Terms.Subscription.Period), start); err == nil && p.Start.Before(first) {
			first = p.Start
		}
	}
	return first
}

// describeLine names a line's charge kind and agreement, " (kind under id
// vN)", or " (kind)" without an agreement.
func describeLine(kind, agr string, version int64) string {
	if agr == "" {
		return " (" + kind + ")"
	}
	return fmt.Sprintf(" (%s under %s v%d)", kind, agr, version)
}
