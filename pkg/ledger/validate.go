package ledger

import (
	"fmt"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// maxIDLen bounds account ids, lock names and other ids that go into keys.
const maxIDLen = 128

// ValidateAccount checks a crawler account id: 1 to 128 characters among
// letters, digits and "-_.:@". It can therefore never contain the braces of a
// hash tag.
func ValidateAccount(account string) error {
	if err := validName(account); err != nil {
		return fmt.Errorf("%w: account %w", ErrInvalid, err)
	}
	return nil
}

func validName(s string) error {
	if s == "" || len(s) > maxIDLen {
		return fmt.Errorf("%q: want 1 to %d characters", clip(s), maxIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '@':
		default:
			return fmt.Errorf("%q: character %q not allowed (letters, digits, -_.:@)", clip(s), c)
		}
	}
	return nil
}

// validText checks a free-form field: bounded, no control characters.
func validText(what, s string, maxLen int, required bool) error {
	if s == "" {
		if required {
			return fmt.Errorf("%w: %s is required", ErrInvalid, what)
		}
		return nil
	}
	if len(s) > maxLen {
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, what, maxLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return fmt.Errorf("%w: %s %q contains a control character", ErrInvalid, what, clip(s))
		}
	}
	return nil
}

// validFieldPart checks a value that becomes part of an aggregate field name
// (publisher, site): validText, and no '|', the field separator.
func validFieldPart(what, s string) error {
	if err := validText(what, s, maxShort, true); err != nil {
		return err
	}
	if strings.ContainsRune(s, '|') {
		return fmt.Errorf("%w: %s %q contains '|'", ErrInvalid, what, clip(s))
	}
	return nil
}

// validateDay checks the "2006-01-02" form of a day.
func validateDay(day string) error {
	if t, err := time.Parse(dayLayout, day); err != nil || t.Format(dayLayout) != day {
		return fmt.Errorf("%w: day %q, want YYYY-MM-DD", ErrInvalid, clip(day))
	}
	return nil
}

func validateCurrency(cur string) error {
	if err := money.ValidateCurrency(cur); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// validateAmount checks 0 <= m <= MaxAmount.
func validateAmount(what string, m money.Micros) error {
	if m < 0 || m > MaxAmount {
		return fmt.Errorf("%w: %s %d outside 0..%d micro-units", ErrInvalid, what, int64(m), int64(MaxAmount))
	}
	return nil
}

// Day returns the ledger day of t: its UTC date, "2006-01-02".
func Day(t time.Time) string { return t.UTC().Format(dayLayout) }

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
