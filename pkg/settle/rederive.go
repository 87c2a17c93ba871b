package settle

import (
	"fmt"
	"sort"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// ChargeCheck re-derives the charge of each commitment from the agreement
// version it names, for the finance audit. Feed it a crawler's
// commitments in append order, from the start of each subscription period
// concerned (Count those before the audited invoice's days): it tracks
// each subscription's quota per period.
//
// The rules it holds the ledger to (agreement.Apply):
//   - no agreement: kind list, the price is what the ledger recorded (the
//     site's price; no list price is recorded to compare);
//   - rate: the rate's price of the recorded list price;
//   - quota: 0, and no more quota requests in a subscription period than
//     its included requests prorated to the days the agreement touches in
//     that period (agreement.ProrateQuota, as the gateway computes them; a
//     new version's quota applies to the rest of the period, the count is
//     shared by every version);
//   - overage: the overage rate's price, only once the period's quota is
//     used up, and never under a hard stop;
//   - prepaid: 0, and drawn what the agreement prices the request at;
//   - in every case the version named is accepted and in force at the
//     request's time, with the commitment's publisher and currency; or it
//     is a version the next one superseded less than VersionGrace before
//     the request (see VersionGrace).
type ChargeCheck struct {
	versions map[agreement.Ref]version
	spans    map[string]agreement.Span
	used     map[quotaKey]int64
	// stale is, for a version a later one superseded, until when a
	// gateway may still have priced under it: the successor's acceptance
	// plus VersionGrace (never past the version's own ValidUntil).
	stale map[agreement.Ref]time.Time
}

// VersionGrace is how long after a new version of an agreement is
// accepted the audit still accepts a commitment naming the version it
// supersedes. A gateway learns of a new version by the registry's
// invalidation message (milliseconds) or, should that be lost, when its
// cached answer expires: at most registry.MaxTTL (60 s) plus one
// background re-read (2 s). Beyond the grace, a commitment naming a
// superseded version is flagged. The grace runs from the acceptance, not
// from the new version's start: a version accepted ahead of its start
// leaves gateways time to learn of it, and earns no grace. A version that
// ends by its own ValidUntil earns none either (gateways know it ahead).
const VersionGrace = 65 * time.Second

type quotaKey struct {
	id    string
	start time.Time
}

// NewChargeCheck returns a ChargeCheck over versions: every version of the
// crawler's agreements.
func NewChargeCheck(versions []agreement.Agreement) *ChargeCheck {
	vs := inForce(versions, agreement.Span{})
	k := &ChargeCheck{versions: map[agreement.Ref]version{}, spans: agreementSpans(vs), used: map[quotaKey]int64{},
		stale: map[agreement.Ref]time.Time{}}
	for _, v := range vs {
		k.versions[agreement.Ref{ID: v.ID, Version: v.Version}] = v
	}
	// The version that supersedes v is the next accepted one of its id.
	byID := map[string][]*agreement.Agreement{}
	for i := range versions {
		if a := &versions[i]; a.Accepted() {
			byID[a.ID] = append(byID[a.ID], a)
		}
	}
	next := map[agreement.Ref]time.Time{}
	for _, as := range byID {
		sort.Slice(as, func(i, j int) bool { return as[i].Version < as[j].Version })
		for i := 0; i+1 < len(as); i++ {
			next[agreement.Ref{ID: as[i].ID, Version: as[i].Version}] = as[i+1].DecidedAt
		}
	}
	for ref, decided := range next {
		v, ok := k.versions[ref]
		if !ok || v.span.Open() {
			continue
		}
		until := decided.Add(VersionGrace)
		if !v.ValidUntil.IsZero() && v.ValidUntil.Before(until) {
			until = v.ValidUntil
		}
		if until.After(v.span.End) {
			k.stale[ref] = until
		}
	}
	return k
}

// named reports whether a gateway may have priced a request received at
// `at` under v: v is in force then, or the version that superseded it was
// accepted less than VersionGrace before.
func (k *ChargeCheck) named(v version, at time.Time) bool {
	if v.span.Contains(at) {
		return true
	}
	until, ok := k.stale[agreement.Ref{ID: v.ID, Version: v.Version}]
	return ok && !at.Before(v.span.Start) && at.Before(until)
}

// Count notes a commitment that precedes the audited ones (it uses quota)
// without checking it.
func (k *ChargeCheck) Count(c *ledger.Commitment) {
	id, ver, kind := ChargeOf(c)
	if kind != ledger.LineQuota && kind != ledger.LineOverage {
		return
	}
	if v, ok := k.versions[agreement.Ref{ID: id, Version: int(ver)}]; ok && v.subscription() != nil {
		if p, err := agreement.PeriodOf(agreement.Cadence(v.subscription().Period), c.Received); err == nil {
			k.used[quotaKey{id, p.Start}]++
		}
	}
}

// Check returns why c's recorded charge is not what its agreement
// implies, or "".
func (k *ChargeCheck) Check(c *ledger.Commitment) string {
	id, ver, kind := ChargeOf(c)
	if id == "" {
		if kind != ledger.LineList {
			return fmt.Sprintf("charged as %s without an agreement", kind)
		}
		return ""
	}
	v, ok := k.versions[agreement.Ref{ID: id, Version: int(ver)}]
	switch {
	case !ok:
		return fmt.Sprintf("agreement %s version %d is not an accepted version of this crawler's agreements", id, ver)
	case !k.named(v, c.Received):
		return fmt.Sprintf("agreement %s version %d is not in force at %s (in force %s; a superseded version is accepted up to %s after the next one's acceptance)",
			id, ver, c.Received.UTC().Format(time.RFC3339Nano), v.span, VersionGrace)
	case v.Publisher != c.Publisher || v.Currency != c.Currency:
		return fmt.Sprintf("agreement %s is with %s in %s, the request was for %s in %s", id, v.Publisher, v.Currency, c.Publisher, c.Currency)
	}
	list := c.ListPrice
	want, err := agreement.Apply(v.Agreement, list, 0)
	if err != nil {
		return err.Error()
	}
	var drawn money.Micros
	switch {
	case kind == ledger.LineRate && v.Terms.Kind == agreement.KindRate:
	case kind == ledger.LinePrepaid && v.Terms.Kind == agreement.KindPrepaid:
		drawn = want.Draw
	case (kind == ledger.LineQuota || kind == ledger.LineOverage) && v.subscription() != nil:
		sub := v.subscription()
		p, err := agreement.PeriodOf(agreement.Cadence(sub.Period), c.Received)
		if err != nil {
			return err.Error()
		}
		quota, err := agreement.ProrateQuota(sub.Included, p, k.spans[id])
		if err != nil {
			return err.Error()
		}
		qk := quotaKey{id, p.Start}
		used := k.used[qk]
		k.used[qk] = used + 1
		if kind == ledger.LineQuota {
			if used >= quota {
				return fmt.Sprintf("charged 0 inside the quota of agreement %s, whose %d requests for the period from %s were used up",
					id, quota, p.Start.Format("2006-01-02"))
			}
			want.Price = 0
			break
		}
		if used < quota {
			return fmt.Sprintf("charged as overage under agreement %s with %d of its %d requests left in the period", id, quota-used, quota)
		}
		beyond, err := agreement.Apply(v.Agreement, list, sub.Included)
		if err != nil {
			return err.Error()
		}
		if beyond.Refusal != "" {
			return fmt.Sprintf("charged as overage under agreement %s, which stops at its quota", id)
		}
		want = beyond
	default:
		return fmt.Sprintf("charged as %q under agreement %s, a %s agreement", kind, id, v.Terms.Kind)
	}
	if c.Price != want.Price || c.Drawn != drawn {
		return fmt.Sprintf("charged %s (drew %s), agreement %s version %d implies %s (drawing %s)", c.Price, c.Drawn, id, ver, want.Price, drawn)
	}
	return ""
}
