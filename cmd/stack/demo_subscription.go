package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// The demo subscription's terms: a monthly fee covering a few requests of
// the news site's articles, a fixed price per request beyond them.
const (
	subFee      = "30.00"
	subIncluded = 5
	subOverage  = "0.008"
	// subExtra is how many requests news-reader makes past its quota.
	subExtra = 3
)

// subscription is the demo's subscription as the steps learn it.
type subscription struct {
	// a is the accepted version; span is when it is in force.
	a    *agreement.Agreement
	span agreement.Span
	// quota is this month's quota, prorated as the gateway prorates it.
	quota int64
	// quotaSeen and overage count news-reader's requests by charge;
	// charged is what the overage requests cost.
	quotaSeen, overage int64
	charged            money.Micros
}

// offerSubscription registers news-reader, a crawler operator paying by
// card; the news publisher offers it a monthly subscription with its own
// token (gateway agreements offer), and news-reader reviews and accepts it,
// signed with its key (crawlctl agreements accept).
func offerSubscription(ctx context.Context, d *demoRun) error {
	st := d.st
	var err error
	if d.reader, err = st.Register(ctx, "news-reader", "--rail", "stripe", "--daily-cap", "20.00", "--max-price", "0.10"); err != nil {
		return err
	}
	offer := map[string]any{
		"account": d.reader.OperatorID, "currency": "USD",
		"valid_from": time.Now().UTC().Truncate(time.Second).Format(time.RFC3339),
		"scope":      []map[string]any{{"host": "127.0.0.1", "paths": []string{"/articles/"}}},
		"terms": map[string]any{"kind": "subscription", "subscription": map[string]any{
			"period": "month", "fee": subFee, "included": subIncluded, "overage": map[string]string{"fixed": subOverage}}},
	}
	offered, err := st.OfferAgreement(ctx, d.news, offer)
	if err != nil {
		return err
	}
	fmt.Printf("%s offers %s agreement %s version %d (gateway agreements offer, with its pcp_ token):\n  terms %s\n  scope %s\n",
		d.news.ID, d.reader.Name, offered.ID, offered.Version, offered.Terms.Summary(), offered.ScopeSummary())
	out, err := st.Crawlctl(ctx, d.reader.Token, "agreements")
	if err != nil {
		return err
	}
	fmt.Printf("\n%s's offers (crawlctl agreements):\n%s", d.reader.Name, out)
	if out, err = st.AcceptAgreement(ctx, d.reader, offered.ID, offered.Version); err != nil {
		return err
	}
	fmt.Printf("\n%s accepts version %d, signed with its key (crawlctl agreements accept):\n%s", d.reader.Name, offered.Version, out)
	versions, err := st.Agreement(ctx, d.reader, offered.ID)
	if err != nil {
		return err
	}
	s := &subscription{}
	for i := range versions {
		if v := &versions[i]; v.Version == offered.Version && v.State == agreement.StateAccepted {
			s.a = v
		}
	}
	if s.a == nil || s.a.Terms.Subscription == nil {
		return fmt.Errorf("agreement %s version %d is not an accepted subscription after crawlctl accepted it: %+v", offered.ID, offered.Version, versions)
	}
	w := agreement.Windows(versions)[agreement.Ref{ID: s.a.ID, Version: s.a.Version}]
	s.span = agreement.Span{Start: w.From, End: w.Until}
	// The registry records an acceptance rounded up to the second: the
	// agreement is in force from then, and requests before it pay the
	// list price.
	select {
	case <-time.After(time.Until(s.span.Start)):
	case <-ctx.Done():
		return ctx.Err()
	}
	period, err := agreement.PeriodOf(agreement.CadenceMonth, time.Now())
	if err != nil {
		return err
	}
	if s.quota, err = agreement.ProrateQuota(s.a.Terms.Subscription.Included, period, s.span); err != nil {
		return err
	}
	fmt.Printf("\nin force from %s UTC: %d of the %d included requests are the quota of %s (prorated by the days of it the agreement touches)\n",
		s.span.Start.Format(time.DateTime), s.quota, s.a.Terms.Subscription.Included, monthName(period))
	d.sub = s
	return nil
}

// crawlSubscription has news-reader fetch articles through the gateways:
// inside its quota each is charged 0, past it the overage price. It prints
// what the crawler saw (the amount charged and the agreement its receipt
// names) and fails the demo when a charge is not what the agreement says.
func crawlSubscription(ctx context.Context, d *demoRun) error {
	s := d.sub
	subOnly := *s.a.Terms.Subscription
	subOnly.Included = s.quota // the period's quota, as the gateway applies it
	priced := *s.a
	priced.Terms.Subscription = &subOnly
	fmt.Fprintln(d.w, "CRAWLER\tPATH\tSTATUS\tCHARGED\tAGREEMENT\tCHARGE")
	for i := int64(0); i < s.quota+subExtra; i++ {
		gw := d.gateways[int(i)%len(d.gateways)]
		p := fmt.Sprintf("/articles/%d", i+1)
		r, err := d.fetch(ctx, d.reader, gw+p, "0.10", "--dialect", "deferred")
		if err != nil {
			return err
		}
		if r.Status != http.StatusOK || r.Charged == nil || r.Offer == nil {
			return fmt.Errorf("subscription: fetch %s: status %d %s, no receipt or offer", p, r.Status, r.CrawlerError)
		}
		list, err := money.Parse(r.Offer.Price)
		if err != nil {
			return fmt.Errorf("subscription: fetch %s: offer price %q: %w", p, r.Offer.Price, err)
		}
		want, err := agreement.Apply(&priced, list, i)
		if err != nil {
			return err
		}
		c := r.Charged
		got, err := money.Parse(c.Amount)
		if err != nil || got != want.Price || c.Agreement != s.a.ID || c.AgreementVersion != int64(s.a.Version) || c.Charge != string(want.Kind) {
			return fmt.Errorf("subscription: fetch %s: charged %s %s under %s v%d as %q, want %s under %s v%d as %q",
				p, c.Currency, c.Amount, c.Agreement, c.AgreementVersion, c.Charge, want.Price, s.a.ID, s.a.Version, want.Kind)
		}
		if want.Kind == agreement.ChargeQuota {
			s.quotaSeen++
		} else {
			s.overage++
			s.charged += got
		}
		fmt.Fprintf(d.w, "%s\t%s\t%d\t%s %s\t%s v%d\t%s\n", d.reader.Name, p, r.Status, c.Currency, c.Amount, c.Agreement, c.AgreementVersion, c.Charge)
	}
	d.w.Flush()
	fmt.Printf("%d inside the quota charged 0, %d past it at the overage price: USD %s on today's invoice (list price of each: the 402 offer's)\n",
		s.quotaSeen, s.overage, s.charged)
	return nil
}

// subscriptionInvoices shows the subscription on the invoices as finance
// sees them (settler invoices show, the finance API): today's usage lines
// (quota at 0, overage), then the fee. The fee is prorated over the whole
// days the agreement is in force and invoiced in advance, on the invoice
// that covers its first whole day: accepted today, that is tomorrow's,
// which the settler closes early here for the demo.
func subscriptionInvoices(ctx context.Context, d *demoRun) error {
	s := d.sub
	today, err := d.invoice(ctx, ledger.InvoiceID(d.reader.OperatorID, d.day, "USD"))
	if err != nil {
		return err
	}
	d.printInvoice(today)
	var quota, overage int64
	var overageAmount money.Micros
	for _, l := range today.Lines {
		if l.AgreementID != s.a.ID || l.AgreementVersion != int64(s.a.Version) {
			return fmt.Errorf("subscription: line %d of %s names agreement %q v%d, want %s v%d", l.N, today.ID, l.AgreementID, l.AgreementVersion, s.a.ID, s.a.Version)
		}
		amt := mustMicros(l.Amount)
		switch l.Kind {
		case string(agreement.ChargeQuota):
			quota += l.Requests
			if amt != 0 {
				return fmt.Errorf("subscription: the quota line of %s is %s, want 0", today.ID, l.Amount)
			}
		case string(agreement.ChargeOverage):
			overage += l.Requests
			overageAmount += amt
		default:
			return fmt.Errorf("subscription: line %d of %s is of kind %q", l.N, today.ID, l.Kind)
		}
	}
	if quota != s.quotaSeen || overage != s.overage || overageAmount != s.charged {
		return fmt.Errorf("subscription: %s bills %d quota and %d overage requests (USD %s), the crawler saw %d, %d (USD %s)",
			today.ID, quota, overage, overageAmount, s.quotaSeen, s.overage, s.charged)
	}

	next := time.Now().UTC().AddDate(0, 0, 1)
	day := ledger.Day(next)
	period, err := agreement.PeriodOf(agreement.CadenceMonth, next)
	if err != nil {
		return err
	}
	fee, err := agreement.ProrateFee(s.a.Terms.Subscription.Fee, period, s.span)
	if err != nil {
		return err
	}
	a, b := agreement.FeeDays(period, s.span)
	fmt.Printf("\nthe fee (%s a month, in advance) is prorated over the whole days in force: %d of the %d days of %s.\n"+
		"In advance is the invoice that covers the first of them, %s's: the settler closes %s now (early, for the demo;\n"+
		"its schedule would after that day). Only %s's day is closed: it has the fee, the other crawlers have nothing on it yet.\n",
		s.a.Terms.Subscription.Fee, b-a, period.DayCount(), monthName(period), day, day, d.reader.Name)
	if err := d.settlers(ctx, "close", "-config", d.cfgPath, "-day", day, "-early"); err != nil {
		return err
	}
	if err := d.settlers(ctx, "charge", "-config", d.cfgPath, "-day", day); err != nil {
		return err
	}
	feeInv, err := d.invoice(ctx, ledger.InvoiceID(d.reader.OperatorID, day, "USD"))
	if err != nil {
		return err
	}
	d.printInvoice(feeInv)
	if len(feeInv.Lines) != 1 || feeInv.Lines[0].Kind != string(ledger.LineFee) || feeInv.Lines[0].AgreementID != s.a.ID ||
		feeInv.Lines[0].AgreementVersion != int64(s.a.Version) || mustMicros(feeInv.Lines[0].Amount) != fee {
		return fmt.Errorf("subscription: %s has lines %+v, want one fee line of USD %s for %s", feeInv.ID, feeInv.Lines, fee, s.a.ID)
	}
	fmt.Printf("the fee line is USD %s = %s × %d/%d, rounded down to the micro-unit; the news publisher earns it like any line.\n"+
		"Carried amounts are what the rail cannot charge yet (below Stripe's minimum, or fractions of a cent): the next invoice takes them in.\n",
		feeInv.Lines[0].Amount, s.a.Terms.Subscription.Fee, b-a, period.DayCount())
	return nil
}

// invoice is one invoice as finance reads it: settler invoices show --json,
// through the finance API.
func (d *demoRun) invoice(ctx context.Context, id string) (*wire.Invoice, error) {
	out, err := d.st.Settler(ctx, "invoices", "show", id, "--json")
	if err != nil {
		return nil, err
	}
	var inv wire.Invoice
	if err := json.Unmarshal(out, &inv); err != nil {
		return nil, fmt.Errorf("settler invoices show %s: %v\n%s", id, err, out)
	}
	return &inv, nil
}

// printInvoice prints an invoice's totals and its lines with the
// agreement behind each.
func (d *demoRun) printInvoice(inv *wire.Invoice) {
	fmt.Printf("\n%s (%s): %s, lines %s %s, carried in %s, total %s, charged %s, carried out %s\n",
		inv.ID, d.reader.Name, inv.Status, inv.Currency, inv.Amount, inv.CarriedIn, inv.Total, inv.Charged, inv.CarriedOut)
	fmt.Fprintln(d.w, "#\tPUBLISHER\tSITE OR PERIOD\tKIND\tREQUESTS\tAMOUNT\tAGREEMENT")
	for _, l := range inv.Lines {
		fmt.Fprintf(d.w, "%d\t%s\t%s\t%s\t%d\t%s %s\t%s v%d\n", l.N, l.Publisher, l.Site, l.Kind, l.Requests, inv.Currency, l.Amount, l.AgreementID, l.AgreementVersion)
	}
	d.w.Flush()
}

// mustMicros parses an amount of the finance API; one it cannot parse is
// -1, which matches no expected amount.
func mustMicros(s string) money.Micros {
	v, err := money.Parse(s)
	if err != nil {
		return -1
	}
	return v
}

// monthName is a month's period as "December 2026".
func monthName(p agreement.Span) string { return p.Start.Format("January 2006") }
