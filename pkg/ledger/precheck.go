package ledger

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// Precheck is Seen and Spent in one round trip (one pipeline; both keys
// share the account's hash tag): whether any replay id of the signature is
// live, and what account has committed on day in currency. It is the
// gateway's check before it asks the origin; Append repeats both checks
// atomically.
func (l *Ledger) Precheck(ctx context.Context, account, day, currency string, ids []string) (seen bool, spent money.Micros, err error) {
	if err := validateKey(account, day, currency); err != nil {
		return false, 0, err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = l.replayKey(account, id)
	}
	var exists *redis.IntCmd
	var sum *redis.StringCmd
	_, err = l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if len(keys) > 0 {
			exists = p.Exists(ctx, keys...)
		}
		sum = p.HGet(ctx, l.aggKey(account, day), "m|"+currency)
		return nil
	})
	if err != nil && err != redis.Nil {
		return false, 0, fmt.Errorf("ledger: precheck: %w", wrap(err))
	}
	if exists != nil {
		seen = exists.Val() > 0
	}
	if s, err := sum.Result(); err == nil {
		if spent, err = parseMicros(s); err != nil {
			return false, 0, err
		}
	}
	return seen, spent, nil
}
