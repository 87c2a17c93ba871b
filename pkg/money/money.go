// Package money holds paycrawl's one money type: exact integer micro-units.
//
// One unit of a currency is 1,000,000 micro-units (1 USD = 1,000,000 µUSD; one
// micro-USD is exactly one USDC base unit). Amounts are parsed from and formatted
// to decimal strings exactly; no float ever touches an amount.
package money

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Scale is the number of micro-units in one unit of a currency.
const Scale = 1_000_000

// Decimals is the number of decimal places a Micros amount carries.
const Decimals = 6

// Micros is an amount of money in micro-units of some currency.
type Micros int64

// Sentinel errors returned by the parsers; match them with errors.Is.
var (
	// ErrSyntax reports a string that is not a decimal amount.
	ErrSyntax = errors.New("money: not a decimal amount")
	// ErrPrecision reports an amount with more than six decimal places.
	ErrPrecision = errors.New("money: more than 6 decimal places")
	// ErrRange reports an amount that does not fit in an int64 of micro-units.
	ErrRange = errors.New("money: amount out of range")
	// ErrNegative reports a negative amount where only non-negative ones are allowed.
	ErrNegative = errors.New("money: negative amount")
	// ErrCurrency reports a missing or malformed currency code.
	ErrCurrency = errors.New("money: bad currency code")
)

// maxLen bounds the input of the parsers so that hostile headers cost nothing.
const maxLen = 64

// Parse reads a non-negative decimal string such as "0.01", "12" or "0.000001"
// into micro-units, exactly. Signs, exponents, spaces, more than six decimal
// places and values beyond the int64 range are errors.
func Parse(s string) (Micros, error) {
	m, err := ParseSigned(s)
	if err != nil {
		return 0, err
	}
	if m < 0 {
		return 0, fmt.Errorf("%w: %q", ErrNegative, s)
	}
	return m, nil
}

// ParseSigned is Parse that also accepts a leading '-'.
func ParseSigned(s string) (Micros, error) {
	if len(s) == 0 || len(s) > maxLen {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, truncate(s))
	}
	neg := false
	body := s
	if body[0] == '-' {
		neg = true
		body = body[1:]
	}
	intPart, frac, hasDot := strings.Cut(body, ".")
	if intPart == "" || (hasDot && frac == "") || !digits(intPart) || !digits(frac) {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, truncate(s))
	}
	if len(frac) > Decimals {
		// Trailing zeros beyond the sixth place carry no value.
		trimmed := strings.TrimRight(frac[Decimals:], "0")
		if trimmed != "" {
			return 0, fmt.Errorf("%w: %q", ErrPrecision, s)
		}
		frac = frac[:Decimals]
	}
	whole, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || whole > math.MaxInt64/Scale {
		return 0, fmt.Errorf("%w: %q", ErrRange, s)
	}
	var f int64
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", Decimals-len(frac)), 10, 64)
	}
	v := whole * Scale
	if v > math.MaxInt64-f {
		return 0, fmt.Errorf("%w: %q", ErrRange, s)
	}
	v += f
	if neg {
		v = -v
	}
	return Micros(v), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > maxLen {
		return s[:maxLen] + "…"
	}
	return s
}

// String formats m as a decimal with at least two and at most six decimal
// places: 10000 → "0.01", 1 → "0.000001", 1500000 → "1.50".
func (m Micros) String() string {
	neg := m < 0
	u := uint64(m)
	if neg {
		u = uint64(-m) // two's complement: correct for MinInt64 too
	}
	whole, frac := u/Scale, u%Scale
	fs := fmt.Sprintf("%06d", frac)
	fs = strings.TrimRight(fs, "0")
	for len(fs) < 2 {
		fs += "0"
	}
	out := strconv.FormatUint(whole, 10) + "." + fs
	if neg {
		out = "-" + out
	}
	return out
}

// Cents splits m into whole hundredths of the unit and the sub-cent remainder
// (m = cents*10,000 + rest, 0 ≤ rest < 10,000 for non-negative m).
func (m Micros) Cents() (cents int64, rest Micros) {
	return int64(m) / 10_000, m % 10_000
}

// FromCents converts whole hundredths of a unit to micro-units.
func FromCents(cents int64) Micros { return Micros(cents * 10_000) }

// Add returns a+b, or ErrRange if the sum overflows.
func Add(a, b Micros) (Micros, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, ErrRange
	}
	return s, nil
}

// Amount is a quantity of micro-units in a named currency.
type Amount struct {
	// Currency is an upper-case code: ISO 4217 (USD, EUR) or a token symbol (USDC).
	Currency string
	// Value is the amount in micro-units of Currency.
	Value Micros
}

// ParseAmount reads the "<CURRENCY> <decimal>" form of the crawler price
// headers, such as "USD 0.01".
func ParseAmount(s string) (Amount, error) {
	if len(s) > maxLen {
		return Amount{}, fmt.Errorf("%w: %q", ErrSyntax, truncate(s))
	}
	cur, val, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return Amount{}, fmt.Errorf("%w: want \"<CURRENCY> <amount>\", got %q", ErrSyntax, s)
	}
	if err := ValidateCurrency(cur); err != nil {
		return Amount{}, err
	}
	m, err := Parse(strings.TrimSpace(val))
	if err != nil {
		return Amount{}, err
	}
	return Amount{Currency: cur, Value: m}, nil
}

// String formats a as "<CURRENCY> <decimal>", the crawler price header form.
func (a Amount) String() string { return a.Currency + " " + a.Value.String() }

// ValidateCurrency checks that c is 3 to 8 upper-case ASCII letters.
func ValidateCurrency(c string) error {
	if len(c) < 3 || len(c) > 8 {
		return fmt.Errorf("%w: %q", ErrCurrency, truncate(c))
	}
	for i := 0; i < len(c); i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return fmt.Errorf("%w: %q", ErrCurrency, truncate(c))
		}
	}
	return nil
}

// ErrUnit reports a unit that is not a whole number of micro-units (more
// than Decimals decimal places, or fewer than zero).
var ErrUnit = errors.New("money: unit outside 0 to 6 decimal places")

// pow10 holds 10^0 … 10^6.
var pow10 = [Decimals + 1]int64{1, 10, 100, 1_000, 10_000, 100_000, 1_000_000}

// ParseUnits reads a whole number of atomic units, each 10^-decimals of a
// currency unit, into micro-units, exactly: ParseUnits("1", 2) is one cent,
// 10,000 micro-units; ParseUnits("1", 6) is one micro-unit. It is the form
// of x402's amount field. Only ASCII digits are accepted: no sign, no
// decimal point, no exponent; values beyond the int64 range of micro-units
// are ErrRange.
func ParseUnits(s string, decimals int) (Micros, error) {
	if decimals < 0 || decimals > Decimals {
		return 0, ErrUnit
	}
	if s == "" || len(s) > maxLen || !digits(s) {
		return 0, fmt.Errorf("%w: %q is not a whole number of units", ErrSyntax, truncate(s))
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrRange, truncate(s))
	}
	f := pow10[Decimals-decimals]
	if v > math.MaxInt64/f {
		return 0, fmt.Errorf("%w: %q", ErrRange, truncate(s))
	}
	return Micros(v * f), nil
}

// Units formats m as a whole number of atomic units of 10^-decimals of the
// currency unit, the inverse of ParseUnits. A negative amount is
// ErrNegative, and an amount that is not a whole number of such units (a
// sub-cent amount in cents) is ErrPrecision: it is never rounded.
func (m Micros) Units(decimals int) (string, error) {
	if decimals < 0 || decimals > Decimals {
		return "", ErrUnit
	}
	if m < 0 {
		return "", fmt.Errorf("%w: %d", ErrNegative, int64(m))
	}
	f := pow10[Decimals-decimals]
	if int64(m)%f != 0 {
		return "", fmt.Errorf("%w: %s is not a whole number of 10^-%d units", ErrPrecision, m, decimals)
	}
	return strconv.FormatInt(int64(m)/f, 10), nil
}
