package ledger

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// AcquireLock takes the lock name for ttl and returns a fencing token, larger
// than every token handed out before for that name, and a release function.
// Pass the token with every invoice transition: once another process holds
// the lock (after this one's expired), invoices that saw its higher token
// refuse this one's with ErrFenced. A held lock gives ErrLocked.
//
// release deletes the lock only if it is still ours (compare-and-delete in a
// script); it is safe to call more than once. There is no renewal: choose a
// ttl longer than the work, or acquire again.
//
// With Options.MinReplicas the lock is granted only once that many
// replicas have it (else ErrUnreplicated, and the lock is given back).
func (l *Ledger) AcquireLock(ctx context.Context, name string, ttl time.Duration) (token int64, release func(), err error) {
	if err := validName(name); err != nil {
		return 0, nil, fmt.Errorf("%w: lock name %w", ErrInvalid, err)
	}
	if ttl < time.Millisecond {
		return 0, nil, fmt.Errorf("%w: lock ttl %s", ErrInvalid, ttl)
	}
	key := l.lockKey(name)
	holder := newTxID()
	// With Options.MinReplicas the lock and its token counter are waited
	// for like an append: a failover must neither free a held lock nor
	// hand out a token twice.
	cmd, unreplicated := l.pipe.runWaited(ctx, lockAcquireScript, []string{key, key + ":token"}, holder, ttl.Milliseconds())
	r, err := reply(cmd)
	if err != nil {
		return 0, nil, fmt.Errorf("ledger: lock %s: %w", name, err)
	}
	if unreplicated != nil && r[0] == "ok" && len(r) == 2 {
		// Give the lock back (best effort): a run that cannot rely on it
		// should not block the next one for its whole ttl.
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = lockReleaseScript.Run(rctx, l.rdb, []string{key}, r[1]+" "+holder).Err()
		cancel()
		return 0, nil, fmt.Errorf("ledger: lock %s: %w", name, unreplicated)
	}
	switch {
	case r[0] == "held":
		return 0, nil, fmt.Errorf("%w: %s", ErrLocked, name)
	case r[0] != "ok" || len(r) != 2:
		return 0, nil, fmt.Errorf("ledger: lock: unexpected script reply %q", r)
	}
	token, err = strconv.ParseInt(r[1], 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("ledger: lock %s token %q: %w", name, r[1], err)
	}
	value := r[1] + " " + holder
	release = func() {
		// Not bound to ctx: releasing must work after the caller's context ended.
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := lockReleaseScript.Run(rctx, l.rdb, []string{key}, value).Err(); err != nil {
			l.log.Warn("ledger: lock release failed; it expires on its own", "lock", name, "err", wrap(err))
		}
	}
	return token, release, nil
}
