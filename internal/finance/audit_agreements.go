package finance

import (
	"context"
	"fmt"
	"sort"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// The audit of agreements: each commitment's charge re-derived from the
// agreement version it names, each fee line from its subscription.

// describe names a line key's agreement and kind, " (kind under id vN)",
// or "" for a line without an agreement.
func (k siteKey) describe() string {
	if k.agreement == "" {
		return ""
	}
	return fmt.Sprintf(" (%s under %s v%d)", k.kind, k.agreement, k.version)
}

// agreements loads the crawler's agreements and counts the quota used
// before the invoice's days in the subscription periods they share.
func (au *audit) agreements(ctx context.Context) error {
	if au.a.Agreements == nil {
		return nil
	}
	span, err := settle.InvoiceSpan(au.inv)
	if err != nil {
		return err
	}
	agrs, err := au.a.Agreements.Agreements(ctx, au.inv.Account)
	if err != nil {
		return fmt.Errorf("finance: agreements of %s: %w", au.inv.Account, err)
	}
	au.agrs, au.charges = agrs, settle.NewChargeCheck(agrs)
	for d := settle.QuotaFrom(agrs, span.Start); d.Before(span.Start); d = d.AddDate(0, 0, 1) {
		err := au.a.Ledger.Commitments(ctx, au.inv.Account, ledger.Day(d), func(c *ledger.Commitment) error {
			au.charges.Count(c)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// charge re-derives c's charge; "" when it holds (or when c names no
// agreement and the audit has none to check).
func (au *audit) charge(c *ledger.Commitment) string {
	if au.charges != nil {
		return au.charges.Check(c)
	}
	if id, v, _ := settle.ChargeOf(c); id != "" {
		return fmt.Sprintf("charged under agreement %s version %d, which this audit cannot re-derive (no agreements configured)", id, v)
	}
	return ""
}

// fees compares the invoice's fee lines with those its subscriptions
// imply (settle.FeeLines), marking each that matches Derived.
func (au *audit) fees() {
	inv, rep := au.inv, au.rep
	var want []settle.FeeLine
	if au.a.Agreements != nil {
		span, err := settle.InvoiceSpan(inv)
		if err == nil {
			want, err = settle.FeeLines(au.agrs, span, inv.Day)
		}
		if err != nil {
			rep.Problems = append(rep.Problems, "the fee lines could not be re-derived: "+clipReason(err.Error()))
			return
		}
	}
	type feeKey struct {
		agr, period string
		v           int64
	}
	expected := map[feeKey]int64{}
	for _, f := range want {
		if f.Currency == inv.Currency {
			expected[feeKey{f.AgreementID, f.Site, f.AgreementVersion}] = int64(f.Amount)
		}
	}
	for i := range au.sums {
		l := &au.sums[i]
		if !l.Fee || l.Kind != ledger.LineFee {
			continue
		}
		k := feeKey{l.AgreementID, l.Site, l.AgreementVersion}
		amount, ok := expected[k]
		delete(expected, k)
		switch {
		case au.a.Agreements == nil:
			rep.Problems = append(rep.Problems, fmt.Sprintf("line %d: a fee of agreement %s v%d, which this audit cannot re-derive (no agreements configured)",
				i+1, l.AgreementID, l.AgreementVersion))
		case !ok:
			rep.Problems = append(rep.Problems, fmt.Sprintf("line %d: a fee of agreement %s v%d for %s that its subscription does not imply on this invoice",
				i+1, l.AgreementID, l.AgreementVersion, l.Site))
		case int64(l.Amount) != amount:
			rep.Problems = append(rep.Problems, fmt.Sprintf("line %d: the fee of agreement %s v%d for %s is %s %s; its subscription implies %s %s",
				i+1, l.AgreementID, l.AgreementVersion, l.Site, inv.Currency, l.Amount, inv.Currency, money.Micros(amount)))
		default:
			l.Derived = true
		}
	}
	var missing []string
	for k, amount := range expected {
		missing = append(missing, fmt.Sprintf("agreement %s v%d implies a fee of %s %s for %s that is not on the invoice",
			k.agr, k.v, inv.Currency, money.Micros(amount), k.period))
	}
	sort.Strings(missing)
	rep.Problems = append(rep.Problems, missing...)
}
