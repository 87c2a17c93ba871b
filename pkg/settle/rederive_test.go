package settle_test

import (
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// TestChargeCheckVersionGrace: a commitment naming the version a new one
// superseded is accepted for settle.VersionGrace after the new version's
// acceptance (a gateway learns of it by invalidation or cache expiry), and
// flagged beyond; a version accepted ahead of its start, or one that ends
// by its own valid_until, earns no grace; a version named before it starts
// is flagged.
func TestChargeCheckVersionGrace(t *testing.T) {
	t0 := time.Date(2031, 12, 1, 0, 0, 0, 0, time.UTC)
	rate := func(v int, from, until, decided time.Time, price int64) agreement.Agreement {
		a := sub("agr_x", v, "acct", from, until, agreement.PeriodMonth, 0, false)
		a.Terms = agreement.Terms{Kind: agreement.KindRate, Rate: &agreement.Rate{Mode: agreement.RateFixed, Price: money.Micros(price)}}
		a.OfferedAt, a.DecidedAt = decided.Add(-time.Minute), decided
		return a
	}
	switched := t0.Add(36 * time.Hour) // v2 accepted (and in force) at Dec 2 12:00
	v1 := rate(1, t0, time.Time{}, t0, 1_000)
	v2 := rate(2, t0, time.Time{}, switched, 800)
	// Another agreement: v2 accepted on Dec 1, in force from Dec 10.
	w1 := rate(1, t0, time.Time{}, t0, 1_000)
	w1.ID = "agr_w"
	w2 := rate(2, t0.AddDate(0, 0, 9), time.Time{}, t0, 800)
	w2.ID = "agr_w"
	// A third that ends by its own valid_until on Dec 3, then a version
	// accepted at that very time.
	e1 := rate(1, t0, t0.AddDate(0, 0, 2), t0, 1_000)
	e1.ID = "agr_e"
	e2 := rate(2, t0.AddDate(0, 0, 2), time.Time{}, t0.AddDate(0, 0, 2), 800)
	e2.ID = "agr_e"
	check := settle.NewChargeCheck([]agreement.Agreement{v1, v2, w1, w2, e1, e2})
	for _, c := range []struct {
		name string
		id   string
		ver  int64
		at   time.Time
		ok   bool
	}{
		{"the superseded version before the switch", "agr_x", 1, switched.Add(-time.Second), true},
		{"the superseded version just after the acceptance", "agr_x", 1, switched.Add(900 * time.Millisecond), true},
		{"the superseded version within the grace", "agr_x", 1, switched.Add(settle.VersionGrace - time.Millisecond), true},
		{"the superseded version at the end of the grace", "agr_x", 1, switched.Add(settle.VersionGrace), false},
		{"the superseded version an hour later", "agr_x", 1, switched.Add(time.Hour), false},
		{"the new version from its acceptance", "agr_x", 2, switched, true},
		{"the new version before its acceptance", "agr_x", 2, switched.Add(-time.Millisecond), false},
		{"a version accepted ahead of its start: the old one after the start", "agr_w", 1, t0.AddDate(0, 0, 9).Add(time.Second), false},
		{"a version accepted ahead of its start: the old one before it", "agr_w", 1, t0.AddDate(0, 0, 9).Add(-time.Second), true},
		{"a version ended by its own valid_until", "agr_e", 1, t0.AddDate(0, 0, 2).Add(time.Second), false},
	} {
		price := int64(1_000)
		if c.ver == 2 {
			price = 800
		}
		cm := &ledger.Commitment{Received: c.at, Publisher: "pub-1", Currency: "USD", AgreementID: c.id, AgreementVersion: c.ver,
			Charge: ledger.ChargeRate, ListPrice: 5_000, Price: money.Micros(price)}
		why := check.Check(cm)
		if (why == "") != c.ok {
			t.Errorf("%s (%s v%d at %s): check %q, want accepted=%v", c.name, c.id, c.ver, c.at.Format(time.RFC3339Nano), why, c.ok)
		}
		if !c.ok && why != "" && !strings.Contains(why, "not in force") {
			t.Errorf("%s: reason %q", c.name, why)
		}
	}
}
