package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// CarryEntry is one movement of a carry-over balance.
type CarryEntry struct {
	// ID is the log stream id (time-ordered).
	ID string
	// Invoice is the invoice that moved the balance.
	Invoice string
	// Kind is "carried" (an invoice below the rail's minimum, or a sub-cent
	// remainder, added to the balance), "consumed" (a new invoice took the
	// balance in) or "returned" (a voided invoice gave its carried-in back).
	Kind string
	// Delta is the signed change; Balance the balance after it.
	Delta, Balance money.Micros
	At             time.Time
}

// Carry returns the carry-over balance of (account, currency): amounts owed
// but not yet charged, which the next invoice in that currency consumes.
func (l *Ledger) Carry(ctx context.Context, account, currency string) (money.Micros, error) {
	if err := ValidateAccount(account); err != nil {
		return 0, err
	}
	if err := validateCurrency(currency); err != nil {
		return 0, err
	}
	s, err := l.rdb.Get(ctx, l.carryKey(account, currency)).Result()
	if err == redis.Nil {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("ledger: carry %s %s: %w", account, currency, wrap(err))
	}
	return parseMicros(s)
}

// CarryLog returns every movement of the carry-over balance of (account,
// currency), oldest first.
func (l *Ledger) CarryLog(ctx context.Context, account, currency string) ([]CarryEntry, error) {
	if err := ValidateAccount(account); err != nil {
		return nil, err
	}
	if err := validateCurrency(currency); err != nil {
		return nil, err
	}
	msgs, err := l.rdb.XRange(ctx, l.carryLogKey(account, currency), "-", "+").Result()
	if err != nil {
		return nil, fmt.Errorf("ledger: carry log %s %s: %w", account, currency, wrap(err))
	}
	out := make([]CarryEntry, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, CarryEntry{
			ID:      m.ID,
			Invoice: str(m, "invoice"),
			Kind:    str(m, "kind"),
			Delta:   money.Micros(num(m, "delta")),
			Balance: money.Micros(num(m, "balance")),
			At:      time.UnixMilli(num(m, "at")).UTC(),
		})
	}
	return out, nil
}
