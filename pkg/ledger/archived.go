package ledger

import (
	"context"
	"fmt"
)

// TrimArchived deletes one crawler-day's commitment stream, whatever its
// age, once the cold tier (package archive) holds a verified copy of its
// count commitments: like Trim it requires the day closed and every
// invoice of it final, and it also requires the stream to hold exactly
// count entries. It returns "" once the stream is gone (also when it
// already was), or why it was kept.
func (l *Ledger) TrimArchived(ctx context.Context, account, day string, count int64) (string, error) {
	if err := validateAccountDay(account, day); err != nil {
		return "", err
	}
	n, err := l.rdb.XLen(ctx, l.streamKey(account, day)).Result()
	if err != nil {
		return "", fmt.Errorf("ledger: trim %s %s: %w", account, day, wrap(err))
	}
	if n == 0 {
		return "", nil
	}
	if n != count {
		return fmt.Sprintf("the stream holds %d commitments, the archive %d", n, count), nil
	}
	return l.trimAccount(ctx, account, day)
}
