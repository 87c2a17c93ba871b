package settle

import (
	"context"
	"sort"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
)

// Arrangements is what the settler needs of the registry's agreements and
// settlement periods (RegistryArrangements). Without it
// (Options.Arrangements nil) every crawler is invoiced daily at list
// price, as before agreements.
type Arrangements interface {
	// Cadence is account's settlement period: a day (the default), a week
	// or a month; and when it was last set (zero if never: daily from the
	// start). While a change is recent the settler looks back for days
	// and fees it left uninvoiced (see closeArranged).
	Cadence(ctx context.Context, account string) (c agreement.Cadence, since time.Time, err error)
	// Agreements returns every version of account's agreements, with every
	// publisher, that was ever accepted (RegistryArrangements reads no
	// other): they are in force in their agreement.Windows. Versions never
	// accepted may be among them and are ignored.
	Agreements(ctx context.Context, account string) ([]agreement.Agreement, error)
	// Accounts lists the accounts with an accepted agreement of kind in
	// force for part of span: subscribers, whose fee invoices are due even
	// on days without usage; prepaid crawlers, whose top-ups may be due.
	Accounts(ctx context.Context, span agreement.Span, kind agreement.Kind) ([]string, error)
}

// version is an accepted version and the span it is in force.
type version struct {
	*agreement.Agreement
	span agreement.Span
}

// inForce returns the accepted versions among versions that are in force
// for part of span (all of them when span is zero), by id then version.
func inForce(versions []agreement.Agreement, span agreement.Span) []version {
	windows := agreement.Windows(versions)
	var out []version
	for i := range versions {
		v := &versions[i]
		w, ok := windows[agreement.Ref{ID: v.ID, Version: v.Version}]
		if !ok || w.Empty() {
			continue
		}
		s := agreement.Span{Start: w.From, End: w.Until}
		if !span.Start.IsZero() && !s.Overlaps(span) {
			continue
		}
		out = append(out, version{Agreement: v, span: s})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// subscription returns v's subscription terms, or nil.
func (v version) subscription() *agreement.Subscription {
	if v.Terms.Kind == agreement.KindSubscription {
		return v.Terms.Subscription
	}
	return nil
}

// agreementSpans is when each agreement id is in force, all its versions
// together (what a quota is prorated by, as the gateway does).
func agreementSpans(vs []version) map[string]agreement.Span {
	out := map[string]agreement.Span{}
	for _, v := range vs {
		sp, ok := out[v.ID]
		if !ok {
			out[v.ID] = v.span
			continue
		}
		if v.span.Start.Before(sp.Start) {
			sp.Start = v.span.Start
		}
		if sp.Open() || v.span.Open() {
			sp.End = agreement.Span{}.End
		} else if v.span.End.After(sp.End) {
			sp.End = v.span.End
		}
		out[v.ID] = sp
	}
	return out
}
