package paywall

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// Agreements gives the agreements between crawler operators and publishers
// (pkg/agreement) that price a crawler's requests instead of the site's
// list prices. pkg/paywall/keys.Agreements reads them from the registry,
// cached.
type Agreements interface {
	// Agreements returns the accepted versions of account's agreements
	// (superseded ones included). It must not wait on the registry once
	// it has an answer for account; an error is a deferred *Error
	// (CodeDirectoryUnavailable when the registry cannot be read).
	Agreements(ctx context.Context, account string) ([]agreement.Agreement, error)
}

// priced is what a paid request costs under the agreement in force, if
// any: decided before the handler runs, recorded by the ledger's append in
// its one round trip (which alone knows the subscription's quota left).
type priced struct {
	agr *agreement.Agreement
	// ch is the charge of the request inside a subscription's quota (or
	// the charge, for the other kinds).
	ch agreement.Charge
	// quota is the subscription's period, for the ledger to count.
	quota *ledger.Quota
}

// cost is what the request costs the crawler as far as is known before
// the append: the charge, or what it draws from a prepaid balance; 0
// inside a subscription's quota (the ledger checks an overage).
func (p *priced) cost(list money.Micros) money.Micros {
	if p == nil {
		return list
	}
	return p.ch.Price + p.ch.Draw
}

// charged is what the request adds to the day's spend as far as is known
// before the append.
func (p *priced) charged(list money.Micros) money.Micros {
	if p == nil {
		return list
	}
	return p.ch.Price
}

// agreementOf prices a paid request of account whose list price is list
// (in the site's currency) under the agreement in force at the request's
// time for the site's publisher, host and path; nil when none is (the
// list price). An agreement applies only to the sites of its own
// publisher and in their currency.
func (p *Paywall) agreementOf(ctx context.Context, r *http.Request, st *request, account string, list money.Amount) (*priced, error) {
	if p.o.Agreements == nil {
		return nil, nil
	}
	versions, err := p.o.Agreements.Agreements(ctx, account)
	if err != nil {
		var de *deferred.Error
		if errors.As(err, &de) {
			return nil, err
		}
		return nil, &deferred.Error{Code: deferred.CodeDirectoryUnavailable, Message: deferred.MessageDirectoryUnavailable, Err: err}
	}
	if len(versions) == 0 {
		return nil, nil
	}
	site := st.site.Pricing
	a := agreement.InForce(versions, account, site.Publisher, site.Host, r.URL.Path, st.received)
	if a == nil {
		return nil, nil
	}
	if a.Currency != list.Currency {
		p.o.Logger(ctx).Warn("agreement in force is in another currency than the site: list price applies",
			"agreement", a.ID, "version", a.Version, "agreement_currency", a.Currency, "site_currency", list.Currency)
		return nil, nil
	}
	ch, err := agreement.Apply(a, list.Value, 0)
	if err != nil {
		return nil, err
	}
	out := &priced{agr: a, ch: ch}
	if s := a.Terms.Subscription; a.Terms.Kind == agreement.KindSubscription && s != nil {
		if out.quota, err = quotaOf(a, versions, list.Value, st.received); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// quotaOf is the ledger's quota for subscription version a at time at:
// its period, its Included prorated to the days the agreement (all its
// versions together) touches in the period (agreement.ProrateQuota, as the
// settler re-derives it), and what a request beyond costs.
func quotaOf(a *agreement.Agreement, versions []agreement.Agreement, list money.Micros, at time.Time) (*ledger.Quota, error) {
	s := a.Terms.Subscription
	period, err := agreement.PeriodOf(agreement.Cadence(s.Period), at)
	if err != nil {
		return nil, err
	}
	included, err := agreement.ProrateQuota(s.Included, period, spanOf(a.ID, versions))
	if err != nil {
		return nil, err
	}
	beyond, err := agreement.Apply(a, list, s.Included)
	if err != nil {
		return nil, err
	}
	return &ledger.Quota{PeriodStart: period.Start, PeriodEnd: period.End, Included: included,
		Overage: beyond.Price, HardStop: beyond.Refusal != ""}, nil
}

// spanOf is when agreement id is in force, all its versions together: from
// the earliest start to the latest end (open when any version is).
func spanOf(id string, versions []agreement.Agreement) agreement.Span {
	var s agreement.Span
	first := true
	for ref, w := range agreement.Windows(versions) {
		if ref.ID != id || w.Empty() {
			continue
		}
		if first || w.From.Before(s.Start) {
			s.Start = w.From
		}
		switch {
		case first:
			s.End = w.Until
		case s.End.IsZero() || w.Until.IsZero():
			s.End = time.Time{}
		case w.Until.After(s.End):
			s.End = w.Until
		}
		first = false
	}
	return s
}

// applyAgreement sets the agreement's part of commitment c and the
// ledger's limits.
func (pr *priced) applyAgreement(c *ledger.Commitment, lim *ledger.Limits, ceiling money.Micros) {
	if pr == nil {
		return
	}
	c.AgreementID, c.AgreementVersion = pr.agr.ID, int64(pr.agr.Version)
	c.ListPrice, c.Charge, c.Price, c.Drawn = pr.ch.List, ledger.ChargeKind(pr.ch.Kind), pr.ch.Price, pr.ch.Draw
	if q := pr.quota; q != nil {
		lim.Quota = q
		// An overage is never above what the crawler committed to pay for
		// this request: the ledger refuses it (price_above_max) rather
		// than charge it. A commitment of 0 cannot pay any: past the quota
		// it stops (a max price of 0 would mean none to the ledger).
		switch {
		case ceiling == 0 && !q.HardStop && q.Overage > 0:
			stop := *q
			stop.HardStop = true
			lim.Quota = &stop
		case ceiling > 0 && (lim.MaxPrice == 0 || ceiling < lim.MaxPrice):
			lim.MaxPrice = ceiling
		}
	}
}

// ceilingOf is the most the crawler committed to pay for the request: the
// price it states, or the offer's (the accepted charge).
func ceilingOf(in *deferred.Intent, charge money.Amount) money.Micros {
	if in.HasPrice && in.Price.Currency == charge.Currency && in.Price.Value > charge.Value {
		return in.Price.Value
	}
	return charge.Value
}
