package agreement

// Settlement and subscription periods, and proration: pure functions on
// UTC time, shared by the gateway (the quota of a period) and the settler
// (invoices and fee lines).
//
// Periods start at 00:00 UTC: a day at midnight, a week on Monday, a month
// on the 1st. Every period is therefore a whole number of UTC days, and a
// week or a month never splits a day: a period that does not align with
// days cannot occur, so a crawler-day (the ledger's unit) always belongs to
// exactly one settlement period and to exactly one subscription period.
//
// Proration counts days. The days of a period an agreement covers are
// counted two ways, each in the crawler's favour:
//
//   - for a fee, the whole UTC days inside [from, until): a day the
//     agreement starts or ends in the middle of is not charged (a version
//     superseded at 14:00 and its successor both leave that day out);
//   - for a quota, the days it touches: a day it is in force for any part
//     of counts, so the crawler gets at least the requests it paid for.
//
// A prorated amount is the difference of two cumulative floors: the share of
// days [a, b) of a period of n days is floor(x*b/n) - floor(x*a/n). Shares
// of consecutive ranges therefore add up to the floor of their union, and a
// whole period comes to x exactly: no micro-unit is lost or gained by
// splitting a period (a version superseded mid-period, an agreement that
// starts on the 10th and ends on the 20th). A single share may differ from
// its exact value x*(b-a)/n by less than one micro-unit either way; that
// remainder is never carried anywhere else.

import (
	"errors"
	"fmt"
	"math/bits"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// Cadence is the length of a period.
type Cadence string

// The cadences. Weeks start on Monday 00:00 UTC, months on the 1st
// 00:00 UTC, days at 00:00 UTC.
const (
	CadenceDay   Cadence = "day"
	CadenceWeek  Cadence = "week"
	CadenceMonth Cadence = "month"
)

// ErrCadence reports a cadence that is not day, week or month.
var ErrCadence = errors.New("agreement: unknown period cadence")

// ErrProration reports a negative amount or an empty period given to a
// proration function.
var ErrProration = errors.New("agreement: bad proration input")

// periodDayLayout is the ledger's day format.
const periodDayLayout = "2006-01-02"

// Span is a half-open interval of time [Start, End). A period's span starts
// and ends at 00:00 UTC; a zero End means open-ended.
type Span struct {
	Start, End time.Time
}

// Open reports whether the span has no end.
func (s Span) Open() bool { return s.End.IsZero() }

// Contains reports whether t is in [Start, End).
func (s Span) Contains(t time.Time) bool {
	return !t.Before(s.Start) && (s.Open() || t.Before(s.End))
}

// Overlaps reports whether s and o share an instant.
func (s Span) Overlaps(o Span) bool {
	return (s.Open() || o.Start.Before(s.End)) && (o.Open() || s.Start.Before(o.End))
}

// Days lists the UTC days ("YYYY-MM-DD") the span touches, in order; an
// open-ended span gives nil.
func (s Span) Days() []string {
	if s.Open() || !s.Start.Before(s.End) {
		return nil
	}
	var out []string
	for d := midnight(s.Start); d.Before(s.End); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(periodDayLayout))
	}
	return out
}

// DayCount is len(s.Days()) without building the list.
func (s Span) DayCount() int {
	if s.Open() || !s.Start.Before(s.End) {
		return 0
	}
	return daysBetween(midnight(s.Start), ceilDay(s.End))
}

// String is "START..END" in RFC 3339, END empty when open-ended.
func (s Span) String() string {
	end := ""
	if !s.Open() {
		end = s.End.UTC().Format(time.RFC3339)
	}
	return s.Start.UTC().Format(time.RFC3339) + ".." + end
}

// ParseCadence reads "day", "week" or "month"; the settlement periods'
// "daily", "weekly" and "monthly" are accepted too.
func ParseCadence(s string) (Cadence, error) {
	switch s {
	case "day", "daily":
		return CadenceDay, nil
	case "week", "weekly":
		return CadenceWeek, nil
	case "month", "monthly":
		return CadenceMonth, nil
	}
	return "", fmt.Errorf("%w: %q (want day, week or month)", ErrCadence, clipPeriodText(s))
}

// PeriodOf returns the period of cadence c that contains t (in UTC).
func PeriodOf(c Cadence, t time.Time) (Span, error) {
	d := midnight(t)
	switch c {
	case CadenceDay:
		return Span{d, d.AddDate(0, 0, 1)}, nil
	case CadenceWeek:
		back := (int(d.Weekday()) + 6) % 7 // days since Monday
		start := d.AddDate(0, 0, -back)
		return Span{start, start.AddDate(0, 0, 7)}, nil
	case CadenceMonth:
		start := time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
		return Span{start, start.AddDate(0, 1, 0)}, nil
	}
	return Span{}, fmt.Errorf("%w: %q", ErrCadence, clipPeriodText(string(c)))
}

// PeriodOfDay is PeriodOf for a ledger day ("YYYY-MM-DD").
func PeriodOfDay(c Cadence, day string) (Span, error) {
	t, err := ParseDay(day)
	if err != nil {
		return Span{}, err
	}
	return PeriodOf(c, t)
}

// Periods lists the periods of cadence c that overlap s, in order; s must
// be bounded.
func Periods(c Cadence, s Span) ([]Span, error) {
	if s.Open() {
		return nil, fmt.Errorf("%w: an open-ended span has no list of periods", ErrProration)
	}
	var out []Span
	for t := s.Start; t.Before(s.End); {
		p, err := PeriodOf(c, t)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
		t = p.End
	}
	return out, nil
}

// ParseDay reads a ledger day ("YYYY-MM-DD") as its 00:00 UTC.
func ParseDay(day string) (time.Time, error) {
	t, err := time.Parse(periodDayLayout, day)
	if err != nil || t.Format(periodDayLayout) != day {
		return time.Time{}, fmt.Errorf("%w: day %q, want YYYY-MM-DD", ErrProration, clipPeriodText(day))
	}
	return t, nil
}

// FeeDays returns the offsets [a, b) of the whole UTC days of period that
// inForce covers: day i of the period (from 0) is counted when
// [period.Start+i days, +1 day) lies inside inForce. b == a means none.
func FeeDays(period, inForce Span) (a, b int) {
	return coveredDays(period, inForce, ceilDay, midnight)
}

// QuotaDays returns the offsets [a, b) of the days of period that inForce
// touches for any part of them.
func QuotaDays(period, inForce Span) (a, b int) {
	return coveredDays(period, inForce, midnight, ceilDay)
}

// coveredDays clips inForce to period and rounds its start with lo and its
// end with hi to day boundaries.
func coveredDays(period, inForce Span, lo, hi func(time.Time) time.Time) (a, b int) {
	n := period.DayCount()
	start := lo(inForce.Start)
	if start.Before(period.Start) {
		start = period.Start
	}
	end := period.End
	if !inForce.Open() {
		if e := hi(inForce.End); e.Before(end) {
			end = e
		}
	}
	if !start.Before(end) {
		return 0, 0
	}
	a, b = daysBetween(period.Start, start), daysBetween(period.Start, end)
	if a > n {
		a = n
	}
	if b > n {
		b = n
	}
	return a, b
}

// Share returns x's share of the days [a, b) of a period of n days:
// floor(x*b/n) - floor(x*a/n) (see the package's proration rule). It needs
// 0 <= a <= b <= n, n > 0 and x >= 0.
func Share(x int64, a, b, n int) (int64, error) {
	if x < 0 || n <= 0 || a < 0 || a > b || b > n {
		return 0, fmt.Errorf("%w: share of %d for days [%d, %d) of %d", ErrProration, x, a, b, n)
	}
	return cumFloor(x, b, n) - cumFloor(x, a, n), nil
}

// cumFloor is floor(x*k/n) without overflow (x >= 0, 0 <= k <= n, n > 0).
func cumFloor(x int64, k, n int) int64 {
	hi, lo := bits.Mul64(uint64(x), uint64(k))
	q, _ := bits.Div64(hi, lo, uint64(n)) // hi < n since k <= n: no panic
	return int64(q)
}

// ProrateFee returns the part of a period's fee that inForce's whole days
// in period bear (FeeDays, Share): fee itself when inForce covers the whole
// period, 0 when it covers no whole day of it.
func ProrateFee(fee money.Micros, period, inForce Span) (money.Micros, error) {
	a, b := FeeDays(period, inForce)
	v, err := Share(int64(fee), a, b, period.DayCount())
	return money.Micros(v), err
}

// ProrateQuota returns the requests of a period's quota that inForce gets
// in period: its share of the days it touches (QuotaDays, Share).
func ProrateQuota(included int64, period, inForce Span) (int64, error) {
	a, b := QuotaDays(period, inForce)
	return Share(included, a, b, period.DayCount())
}

// FeeDay is the ledger day whose invoice carries the fee of the whole days
// [a, b) of period (FeeDays): in advance, the first of those days; in
// arrears, the last. It is "" when there is no whole day (no fee line).
func FeeDay(period Span, a, b int, inArrears bool) string {
	if b <= a {
		return ""
	}
	i := a
	if inArrears {
		i = b - 1
	}
	return period.Start.AddDate(0, 0, i).Format(periodDayLayout)
}

// midnight is the 00:00 UTC of t's day.
func midnight(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// ceilDay is t if it is a 00:00 UTC, else the next 00:00 UTC.
func ceilDay(t time.Time) time.Time {
	d := midnight(t)
	if d.Equal(t) {
		return d
	}
	return d.AddDate(0, 0, 1)
}

// daysBetween counts the days from midnight a to midnight b.
func daysBetween(a, b time.Time) int {
	return int(b.Sub(a) / (24 * time.Hour))
}

// clipPeriodText bounds user text quoted in an error.
func clipPeriodText(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
