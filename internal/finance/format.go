package finance

import (
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"money":    formatMoney,
	"amount":   groupDigits,
	"count":    formatCount,
	"when":     formatTime,
	"short":    shortRef,
	"dayShift": dayShift,
	"add":      func(a, b int) int { return a + b },
	"sub":      func(a, b money.Micros) money.Micros { return a - b },
	"title":    title,
	"plural":   plural,
}

// plural writes a count with its noun: "1 request", "1,234 requests".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return formatCount(n) + " " + noun + "s"
}

// formatMoney writes an amount as people read it: "USD 1,234.50",
// "USDC 0.000123" (two to six decimals, exact; never a float).
func formatMoney(cur string, m money.Micros) string {
	return cur + "\u00a0" + groupDigits(m)
}

// groupDigits writes an amount with thousands separators: "1,234.50".
func groupDigits(m money.Micros) string {
	s := m.String()
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	b.WriteByte('.')
	b.WriteString(frac)
	return b.String()
}

// formatCount writes a count with thousands separators.
func formatCount(n int64) string {
	return strings.TrimSuffix(groupDigits(money.Micros(n*money.Scale)), ".00")
}

// formatTime writes a time in UTC to the second; the zero time is "—".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// shortRef shortens a long reference (a transaction hash) for a table:
// "0x1234ab…9f3e"; the full value goes in a title attribute.
func shortRef(s string) string {
	if len(s) <= 22 {
		return s
	}
	return s[:10] + "…" + s[len(s)-6:]
}

// dayShift returns the day n days after day.
func dayShift(day string, n int) string {
	t, err := time.Parse("2006-01-02", day)
	if err != nil {
		return day
	}
	return ledger.Day(t.AddDate(0, 0, n))
}

// title capitalises the first letter.
func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// itoa is strconv.Itoa, for building paths.
func itoa(n int) string { return strconv.Itoa(n) }
