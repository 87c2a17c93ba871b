package money

import (
	"errors"
	"math"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Micros
		err  error
	}{
		{"0", 0, nil},
		{"0.01", 10_000, nil},
		{"1", 1_000_000, nil},
		{"1.5", 1_500_000, nil},
		{"0.000001", 1, nil},
		{"12.345678", 12_345_678, nil},
		{"0.0000010", 1, nil},
		{"9223372036854.775807", math.MaxInt64, nil},
		{"9223372036854.775808", 0, ErrRange},
		{"99999999999999999999", 0, ErrRange},
		{"0.0000001", 0, ErrPrecision},
		{"", 0, ErrSyntax},
		{"-1", 0, ErrNegative},
		{"+1", 0, ErrSyntax},
		{"1e3", 0, ErrSyntax},
		{".5", 0, ErrSyntax},
		{"5.", 0, ErrSyntax},
		{"1.2.3", 0, ErrSyntax},
		{" 1", 0, ErrSyntax},
		{"0x10", 0, ErrSyntax},
		{"１", 0, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Parse(%q) error = %v, want %v", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		in   Micros
		want string
	}{
		{0, "0.00"},
		{10_000, "0.01"},
		{1, "0.000001"},
		{1_500_000, "1.50"},
		{12_345_678, "12.345678"},
		{-10_000, "-0.01"},
		{math.MaxInt64, "9223372036854.775807"},
		{math.MinInt64, "-9223372036854.775808"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Micros(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in      string
		want    Amount
		wantErr bool
	}{
		{"USD 0.01", Amount{"USD", 10_000}, false},
		{"USDC 1", Amount{"USDC", 1_000_000}, false},
		{"usd 0.01", Amount{}, true},
		{"USD", Amount{}, true},
		{"USD -1", Amount{}, true},
		{"0.01 USD", Amount{}, true},
		{"US 0.01", Amount{}, true},
	}
	for _, tt := range tests {
		got, err := ParseAmount(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseAmount(%q) = %v, %v", tt.in, got, err)
		}
	}
	if s := (Amount{"USD", 10_000}).String(); s != "USD 0.01" {
		t.Errorf("String = %q", s)
	}
}

func TestCents(t *testing.T) {
	c, r := Micros(1_234_567).Cents()
	if c != 123 || r != 4_567 {
		t.Fatalf("Cents = %d, %d", c, r)
	}
	if FromCents(c)+r != 1_234_567 {
		t.Fatal("FromCents does not invert Cents")
	}
}

func TestAdd(t *testing.T) {
	if _, err := Add(math.MaxInt64, 1); !errors.Is(err, ErrRange) {
		t.Fatalf("overflow not detected: %v", err)
	}
	if s, err := Add(2, 3); err != nil || s != 5 {
		t.Fatalf("Add = %d, %v", s, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "0.01", "1.000000", "9223372036854.775807", "-1", "1e3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseSigned(s)
		if err != nil {
			return
		}
		back, err := ParseSigned(m.String())
		if err != nil || back != m {
			t.Fatalf("round trip %q → %d → %q → %d, %v", s, m, m.String(), back, err)
		}
	})
}

func TestUnits(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		decimals int
		want     Micros
		err      error
	}{
		{"one micro", "1", 6, 1, nil},
		{"one cent", "1", 2, 10_000, nil},
		{"five cents", "5", 2, 50_000, nil},
		{"one unit", "1", 0, 1_000_000, nil},
		{"zero", "0", 2, 0, nil},
		{"leading zeros", "007", 6, 7, nil},
		{"max micros", "9223372036854775807", 6, math.MaxInt64, nil},
		{"cents overflow", "922337203685477581", 2, 0, ErrRange},
		{"int64 overflow", "9223372036854775808", 6, 0, ErrRange},
		{"decimal point", "0.01", 2, 0, ErrSyntax},
		{"sign", "-1", 6, 0, ErrSyntax},
		{"plus", "+1", 6, 0, ErrSyntax},
		{"exponent", "1e3", 6, 0, ErrSyntax},
		{"space", " 1", 6, 0, ErrSyntax},
		{"empty", "", 6, 0, ErrSyntax},
		{"unit too fine", "1", 7, 0, ErrUnit},
		{"negative unit", "1", -1, 0, ErrUnit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUnits(tt.in, tt.decimals)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ParseUnits(%q, %d) = %v, %v; want %v", tt.in, tt.decimals, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseUnits(%q, %d) = %v, %v; want %v", tt.in, tt.decimals, got, err, tt.want)
			}
			back, err := got.Units(tt.decimals)
			if err != nil {
				t.Fatal(err)
			}
			if again, _ := ParseUnits(back, tt.decimals); again != got {
				t.Fatalf("round trip %q → %v → %q → %v", tt.in, got, back, again)
			}
		})
	}
	for _, tt := range []struct {
		m        Micros
		decimals int
		err      error
	}{{1, 2, ErrPrecision}, {10_001, 2, ErrPrecision}, {-10_000, 2, ErrNegative}, {1, 9, ErrUnit}} {
		if s, err := tt.m.Units(tt.decimals); !errors.Is(err, tt.err) {
			t.Errorf("Micros(%d).Units(%d) = %q, %v; want %v", tt.m, tt.decimals, s, err, tt.err)
		}
	}
}
