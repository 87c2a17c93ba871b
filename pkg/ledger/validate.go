package ledger

import (
	"fmt"
	"strings"
	"sync/atomic"
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

// Days gives Day of times, remembering the last day it named: on a
// request path nearly every time asked for is on the same day, and the
// name is then not formatted again. Its zero value is ready; it is safe
// for concurrent use.
type Days struct{ last atomic.Pointer[dayName] }

// dayName is a day and the number of days from 1970-01-01 to it.
type dayName struct {
	n    int64
	name string
}

// Of returns Day(t).
func (d *Days) Of(t time.Time) string {
	n := t.Unix()
	if n < 0 {
		return Day(t)
	}
	n /= 24 * 3600
	if l := d.last.Load(); l != nil && l.n == n {
		return l.name
	}
	l := &dayName{n: n, name: Day(t)}
	d.last.Store(l)
	return l.name
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
