package agreement

import (
	"fmt"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// ChargeKind says how one request was charged; the commitment records it so
// that an audit can re-derive the charge.
type ChargeKind string

// The charge kinds.
const (
	// ChargeList: the site's list price, no agreement applied.
	ChargeList ChargeKind = "list"
	// ChargeRate: a negotiated rate (fixed or discount).
	ChargeRate ChargeKind = "rate"
	// ChargeQuota: inside a subscription's quota, charged 0.
	ChargeQuota ChargeKind = "quota"
	// ChargeOverage: past a subscription's quota, at its overage rate.
	ChargeOverage ChargeKind = "overage"
	// ChargePrepaid: drawn from the prepaid balance, charged 0.
	ChargePrepaid ChargeKind = "prepaid"
)

// Charge is what one request costs under an agreement (or none).
type Charge struct {
	Kind ChargeKind
	// List is the site's list price of the request.
	List money.Micros
	// Price is what the request adds to the crawler's invoice: 0 inside a
	// quota and when drawn from a prepaid balance.
	Price money.Micros
	// Draw is what the request takes from the prepaid balance (ChargePrepaid);
	// the ledger refuses the request (CodePrepaidExhausted) when the balance
	// is lower, atomically with the append.
	Draw money.Micros
	// CountsQuota is true when the request counts towards the subscription's
	// quota for the period (every served request of a subscription, inside
	// the quota or past it).
	CountsQuota bool
	// Refusal is "" or the code of a refusal decided here
	// (CodeQuotaExhausted); a refused request is not served nor recorded.
	Refusal string
}

// Apply prices one request whose site list price is list, under a (nil: no
// agreement, the list price). used is, for a subscription, the number of
// requests of the current period already counted against the quota before
// this one (the ledger's counter for this agreement id and period; ignored
// otherwise). a must be valid (Validate). Apply is pure and integer-only.
// Errors wrap ErrInvalid: a negative list price or used count, or terms
// that do not match their kind.
func Apply(a *Agreement, list money.Micros, used int64) (Charge, error) {
	if list < 0 {
		return Charge{}, fmt.Errorf("%w: list price %s is negative", ErrInvalid, list)
	}
	if a == nil {
		return Charge{Kind: ChargeList, List: list, Price: list}, nil
	}
	c := Charge{List: list}
	t := a.Terms
	switch {
	case t.Kind == KindRate && t.Rate != nil:
		c.Kind, c.Price = ChargeRate, t.Rate.PriceOf(list)
	case t.Kind == KindSubscription && t.Subscription != nil:
		s := t.Subscription
		if used < 0 {
			return Charge{}, fmt.Errorf("%w: used count %d is negative", ErrInvalid, used)
		}
		c.CountsQuota = true
		switch {
		case used < s.Included:
			c.Kind = ChargeQuota
		case s.HardStop || s.Overage == nil:
			c.Kind, c.CountsQuota, c.Refusal = ChargeOverage, false, CodeQuotaExhausted
		default:
			c.Kind, c.Price = ChargeOverage, s.Overage.PriceOf(list)
		}
	case t.Kind == KindPrepaid && t.Prepaid != nil:
		c.Kind, c.Draw = ChargePrepaid, list
		if t.Prepaid.Rate != nil {
			c.Draw = t.Prepaid.Rate.PriceOf(list)
		}
	default:
		return Charge{}, fmt.Errorf("%w: terms of kind %q do not match it", ErrInvalid, clip(string(t.Kind), 16))
	}
	return c, nil
}

// PriceOf is what the rate makes of a list price: the fixed price, or the list
// price less the discount rounded down to the micro-unit (floor of
// list × (10000 − bps) / 10000, computed without overflow for any int64).
// A list price below 0 is priced as 0.
func (r Rate) PriceOf(list money.Micros) money.Micros {
	if r.Mode == RateFixed {
		return r.Price
	}
	if list <= 0 {
		return 0
	}
	bps := r.DiscountBPS
	if bps < 0 {
		bps = 0
	}
	if bps > maxBasisPoints {
		bps = maxBasisPoints
	}
	keep := int64(maxBasisPoints - bps)
	q, rem := int64(list)/maxBasisPoints, int64(list)%maxBasisPoints
	return money.Micros(q*keep + rem*keep/maxBasisPoints)
}
