package agreement

import (
	"errors"
	"math"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func span(a, b string) Span {
	s := Span{Start: at(a)}
	if b != "" {
		s.End = at(b)
	}
	return s
}

func TestPeriodOf(t *testing.T) {
	for _, tc := range []struct {
		name   string
		c      Cadence
		t      string
		want   Span
		ndays  int
		first  string
		errors bool
	}{
		{"day", CadenceDay, "2026-12-01T22:05:00Z", span("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"), 1, "2026-12-01", false},
		{"week from a Tuesday", CadenceWeek, "2026-12-01T22:05:00Z", span("2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"), 7, "2026-11-30", false},
		{"week on Monday midnight", CadenceWeek, "2026-11-30T00:00:00Z", span("2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"), 7, "2026-11-30", false},
		{"week from a Sunday's last second", CadenceWeek, "2026-12-06T23:59:59Z", span("2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"), 7, "2026-11-30", false},
		{"week across a year", CadenceWeek, "2027-01-01T12:00:00Z", span("2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z"), 7, "2026-12-28", false},
		{"month of 31 days", CadenceMonth, "2026-12-31T23:59:59Z", span("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"), 31, "2026-12-01", false},
		{"February", CadenceMonth, "2027-02-14T00:00:00Z", span("2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z"), 28, "2027-02-01", false},
		{"leap February", CadenceMonth, "2028-02-29T10:00:00Z", span("2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z"), 29, "2028-02-01", false},
		{"other zone is read in UTC", CadenceDay, "2026-12-01T23:30:00-05:00", span("2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z"), 1, "2026-12-02", false},
		{"unknown cadence", Cadence("year"), "2026-12-01T00:00:00Z", Span{}, 0, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PeriodOf(tc.c, at(tc.t))
			if tc.errors {
				if !errors.Is(err, ErrCadence) {
					t.Fatalf("err = %v, want ErrCadence", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Start.Equal(tc.want.Start) || !got.End.Equal(tc.want.End) {
				t.Fatalf("PeriodOf = %s, want %s", got, tc.want)
			}
			days := got.Days()
			if len(days) != tc.ndays || got.DayCount() != tc.ndays || days[0] != tc.first {
				t.Fatalf("days = %v (count %d), want %d from %s", days, got.DayCount(), tc.ndays, tc.first)
			}
			if !got.Contains(at(tc.t)) || got.Contains(got.End) {
				t.Fatalf("%s: contains its instant %v, its end %v", got, got.Contains(at(tc.t)), got.Contains(got.End))
			}
		})
	}
}

func TestParseCadenceAndDay(t *testing.T) {
	for in, want := range map[string]Cadence{"day": CadenceDay, "daily": CadenceDay, "week": CadenceWeek,
		"weekly": CadenceWeek, "month": CadenceMonth, "monthly": CadenceMonth} {
		if got, err := ParseCadence(in); err != nil || got != want {
			t.Errorf("ParseCadence(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "Monthly", "fortnight"} {
		if _, err := ParseCadence(bad); !errors.Is(err, ErrCadence) {
			t.Errorf("ParseCadence(%q) err = %v", bad, err)
		}
	}
	for _, bad := range []string{"", "2026-2-01", "2026-02-30", "2026-12-01T00:00:00Z"} {
		if _, err := ParseDay(bad); !errors.Is(err, ErrProration) {
			t.Errorf("ParseDay(%q) err = %v", bad, err)
		}
	}
	p, err := PeriodOfDay(CadenceWeek, "2026-12-03")
	if err != nil || p.Days()[0] != "2026-11-30" {
		t.Fatalf("PeriodOfDay = %s, %v", p, err)
	}
}

func TestPeriods(t *testing.T) {
	got, err := Periods(CadenceMonth, span("2026-11-20T00:00:00Z", "2027-01-02T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	var starts []string
	for _, p := range got {
		starts = append(starts, p.Days()[0])
	}
	if want := []string{"2026-11-01", "2026-12-01", "2027-01-01"}; !reflect.DeepEqual(starts, want) {
		t.Fatalf("months = %v, want %v", starts, want)
	}
	weeks, err := Periods(CadenceWeek, span("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"))
	if err != nil || len(weeks) != 5 || weeks[0].Days()[0] != "2026-11-30" || weeks[4].Days()[6] != "2027-01-03" {
		t.Fatalf("weeks of December = %v, %v", weeks, err)
	}
	if _, err := Periods(CadenceDay, span("2026-12-01T00:00:00Z", "")); !errors.Is(err, ErrProration) {
		t.Fatalf("open span: err = %v", err)
	}
}

func TestSpan(t *testing.T) {
	open := span("2026-12-10T00:00:00Z", "")
	dec := span("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z")
	for _, tc := range []struct {
		name string
		a, b Span
		want bool
	}{
		{"open-ended after the start", dec, open, true},
		{"touching ends do not overlap", dec, span("2027-01-01T00:00:00Z", ""), false},
		{"inside", dec, span("2026-12-05T10:00:00Z", "2026-12-05T11:00:00Z"), true},
		{"before", dec, span("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"), false},
	} {
		if got := tc.a.Overlaps(tc.b); got != tc.want || tc.b.Overlaps(tc.a) != tc.want {
			t.Errorf("%s: Overlaps = %v, want %v", tc.name, got, tc.want)
		}
	}
	if open.Days() != nil || open.DayCount() != 0 || !open.Contains(at("2099-01-01T00:00:00Z")) {
		t.Fatal("an open span has no list of days and contains the future")
	}
	partial := span("2026-12-01T12:00:00Z", "2026-12-03T00:00:01Z")
	if got := partial.Days(); !reflect.DeepEqual(got, []string{"2026-12-01", "2026-12-02", "2026-12-03"}) || partial.DayCount() != 3 {
		t.Fatalf("days touched = %v (%d)", got, partial.DayCount())
	}
}

func TestProration(t *testing.T) {
	dec := span("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z") // 31 days
	week := span("2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z")
	const fee = money.Micros(100_000_000) // 100.000000
	for _, tc := range []struct {
		name           string
		period, force  Span
		fee            money.Micros
		included       int64
		wantFee        money.Micros
		wantQuota      int64
		feeA, feeB     int
		advance, arrea string
	}{
		{"whole month", dec, span("2026-01-01T00:00:00Z", ""), fee, 31_000, fee, 31_000, 0, 31, "2026-12-01", "2026-12-31"},
		{"from the 16th", dec, span("2026-12-16T00:00:00Z", ""), fee, 31_000,
			51_612_904, 16_000, 15, 31, "2026-12-16", "2026-12-31"}, // floor(100e6*31/31) - floor(100e6*15/31)
		{"until the 16th", dec, span("2026-11-01T00:00:00Z", "2026-12-16T00:00:00Z"), fee, 31_000,
			48_387_096, 15_000, 0, 15, "2026-12-01", "2026-12-15"},
		{"starts mid-day: that day is free of fee, counted in quota", dec, span("2026-12-16T14:30:00Z", ""), fee, 31_000,
			48_387_097, 16_000, 16, 31, "2026-12-17", "2026-12-31"},
		{"one hour: no fee, one day of quota", dec, span("2026-12-05T10:00:00Z", "2026-12-05T11:00:00Z"), fee, 31_000,
			0, 1_000, 0, 0, "", ""},
		{"before the period", dec, span("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"), fee, 31_000, 0, 0, 0, 0, "", ""},
		{"week, Wednesday on", week, span("2026-12-02T00:00:00Z", ""), 7_000_001, 700, 5_000_001, 500, 2, 7, "2026-12-02", "2026-12-06"},
		{"zero fee", week, span("2026-12-02T00:00:00Z", ""), 0, 0, 0, 0, 2, 7, "2026-12-02", "2026-12-06"},
		{"the largest ledger amount", dec, span("2026-12-02T00:00:00Z", ""), money.Micros(1<<53 - 1), math.MaxInt64,
			money.Micros(1<<53 - 1 - (1<<53-1)/31), math.MaxInt64 - math.MaxInt64/31, 1, 31, "2026-12-02", "2026-12-31"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ProrateFee(tc.fee, tc.period, tc.force)
			if err != nil || got != tc.wantFee {
				t.Fatalf("ProrateFee = %d, %v; want %d", got, err, tc.wantFee)
			}
			q, err := ProrateQuota(tc.included, tc.period, tc.force)
			if err != nil || q != tc.wantQuota {
				t.Fatalf("ProrateQuota = %d, %v; want %d", q, err, tc.wantQuota)
			}
			a, b := FeeDays(tc.period, tc.force)
			if a != tc.feeA || b != tc.feeB {
				t.Fatalf("FeeDays = [%d, %d), want [%d, %d)", a, b, tc.feeA, tc.feeB)
			}
			if d := FeeDay(tc.period, a, b, false); d != tc.advance {
				t.Errorf("in advance on %q, want %q", d, tc.advance)
			}
			if d := FeeDay(tc.period, a, b, true); d != tc.arrea {
				t.Errorf("in arrears on %q, want %q", d, tc.arrea)
			}
		})
	}
}

// TestShareSplitsAddUp: however a period is cut into consecutive ranges
// (versions superseding each other), the shares add up to the whole, and
// each share is within one micro-unit of its exact value.
func TestShareSplitsAddUp(t *testing.T) {
	for _, n := range []int{1, 7, 28, 29, 30, 31} {
		for _, x := range []int64{0, 1, 2, 3, 7, 99, 100_000_000, 123_456_789, 1<<53 - 1} {
			for step := 1; step <= n; step++ {
				var sum int64
				for a := 0; a < n; a += step {
					b := min(a+step, n)
					s, err := Share(x, a, b, n)
					if err != nil {
						t.Fatal(err)
					}
					// |s - x*(b-a)/n| < 1  <=>  |s*n - x*(b-a)| < n
					d := new(big.Int).Mul(big.NewInt(s), big.NewInt(int64(n)))
					d.Sub(d, new(big.Int).Mul(big.NewInt(x), big.NewInt(int64(b-a))))
					if d.Abs(d).Cmp(big.NewInt(int64(n))) >= 0 {
						t.Fatalf("Share(%d, %d, %d, %d) = %d: off its exact value by a micro-unit or more", x, a, b, n, s)
					}
					sum += s
				}
				if sum != x {
					t.Fatalf("x=%d n=%d step=%d: shares add up to %d", x, n, step, sum)
				}
			}
		}
	}
}

func TestShareRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		x       int64
		a, b, n int
	}{{-1, 0, 1, 1}, {1, 0, 1, 0}, {1, 2, 1, 3}, {1, 0, 4, 3}, {1, -1, 1, 3}} {
		if _, err := Share(tc.x, tc.a, tc.b, tc.n); !errors.Is(err, ErrProration) {
			t.Errorf("Share(%d, %d, %d, %d) err = %v", tc.x, tc.a, tc.b, tc.n, err)
		}
	}
	if _, err := ProrateFee(-5, span("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"), span("2026-12-01T00:00:00Z", "")); !errors.Is(err, ErrProration) {
		t.Fatalf("negative fee: err = %v", err)
	}
}
