package ledger

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// TrimReport says what Trim did with each crawler of a day.
type TrimReport struct {
	Day string
	// Trimmed lists the accounts whose commitment stream was deleted (or
	// was already gone).
	Trimmed []string
	// Kept maps each account whose stream was kept to the reason.
	Kept map[string]string
}

// Trim deletes the commitment streams of day, a day at least
// Options.RetentionDays old, for every crawler whose invoices of that day are
// all final (paid, void or carried). Other crawlers' streams stay, and the
// report says why. Aggregates, invoices, their history and the archived
// public keys are never deleted. A day within the retention period gives
// ErrRetention.
func (l *Ledger) Trim(ctx context.Context, day string) (*TrimReport, error) {
	if err := validateDay(day); err != nil {
		return nil, err
	}
	d, _ := time.Parse(dayLayout, day)
	today, _ := time.Parse(dayLayout, Day(l.now()))
	if age := int(today.Sub(d) / (24 * time.Hour)); age < l.retention {
		return nil, fmt.Errorf("%w: %s is %d days old, retention is %d days", ErrRetention, day, age, l.retention)
	}
	accounts, err := l.Accounts(ctx, day)
	if err != nil {
		return nil, err
	}
	rep := &TrimReport{Day: day, Kept: map[string]string{}}
	for _, a := range accounts {
		if ValidateAccount(a) != nil {
			rep.Kept[a] = "invalid account id in the day's index"
			continue
		}
		why, err := l.trimAccount(ctx, a, day)
		if err != nil {
			return rep, err
		}
		if why != "" {
			rep.Kept[a] = why
			continue
		}
		rep.Trimmed = append(rep.Trimmed, a)
	}
	if len(rep.Kept) > 0 {
		l.log.Info("ledger: trim kept unsettled crawler-days", "day", day, "kept", len(rep.Kept), "trimmed", len(rep.Trimmed))
	}
	return rep, nil
}

// trimAccount deletes one crawler-day's stream if its invoices are final and
// returns "" , or returns why it did not. A currency of the day that a
// weekly or monthly invoice covers (Aggregate.InvoicedOn) waits for that
// invoice, not for one of the day's own.
func (l *Ledger) trimAccount(ctx context.Context, account, day string) (string, error) {
	for attempt := 0; attempt < 3; attempt++ {
		h, err := l.rdb.HGetAll(ctx, l.aggKey(account, day)).Result()
		if err != nil {
			return "", fmt.Errorf("ledger: trim %s %s: %w", account, day, wrap(err))
		}
		var curs []string
		for f := range h {
			if cur, ok := strings.CutPrefix(f, "n|"); ok && !strings.Contains(cur, "|") {
				curs = append(curs, cur)
			}
		}
		sort.Strings(curs)
		keys := []string{l.streamKey(account, day), l.aggKey(account, day), l.profileKey(account, day)}
		args := make([]interface{}, 0, 1+2*len(curs))
		args = append(args, day)
		for _, cur := range curs {
			on := h["inv|"+cur]
			if on == "" || validateDay(on) != nil {
				on = day
			}
			keys = append(keys, l.invKey(account, on, cur))
			args = append(args, cur, on)
		}
		r, err := reply(trimScript.Run(ctx, l.rdb, keys, args...))
		if err != nil {
			return "", fmt.Errorf("ledger: trim %s %s: %w", account, day, err)
		}
		switch {
		case r[0] == "trimmed":
			return "", nil
		case r[0] == "stale":
			continue // the aggregate changed between HGETALL and the script
		case r[0] == "open":
			return "day not closed", nil
		case r[0] == "noinvoice" && len(r) == 3:
			if r[2] != day {
				return fmt.Sprintf("no %s invoice %s (the period's, which covers the day)", r[1], InvoiceID(account, r[2], r[1])), nil
			}
			return "no " + r[1] + " invoice", nil
		case r[0] == "unsettled" && len(r) == 4:
			return fmt.Sprintf("invoice %s is %s", InvoiceID(account, r[3], r[1]), r[2]), nil
		default:
			return "", fmt.Errorf("ledger: trim: unexpected script reply %q", r)
		}
	}
	return "aggregate kept changing", nil
}
