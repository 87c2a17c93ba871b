package ledger

import (
	"testing"
	"time"
)

// TestDaysOf: Days names every time's UTC day as Day does, across
// midnight, in another zone and before 1970, and a day it named last
// costs no allocation.
func TestDaysOf(t *testing.T) {
	var d Days
	for _, ts := range []time.Time{
		time.Date(2026, 12, 1, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 2, 0, 30, 0, 0, time.FixedZone("CET", 3600)),
		time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC),
	} {
		if got, want := d.Of(ts), Day(ts); got != want {
			t.Errorf("Days.Of(%s) = %s, want %s", ts, got, want)
		}
	}
	now := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	d.Of(now)
	if n := testing.AllocsPerRun(100, func() { d.Of(now) }); n != 0 {
		t.Errorf("%v allocations for the day named last", n)
	}
}
