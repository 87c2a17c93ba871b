package ledger

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// Append records c, atomically, in one script: replay check, max price and
// daily cap check, stream append, aggregates, public key archive. It sets
// c.Day and c.ID and returns the commitment id.
//
// Append is idempotent: if c's replay keys name a commitment whose record is
// c's, byte for byte (c.RequestID, minted per request, included), the call is
// a retry of an append that landed, and it returns the original id and
// changes nothing. That makes go-redis's automatic retries (which may resend
// a script whose reply was lost) and the caller's own retries safe. A replay
// key naming another commitment refuses the append with ErrReplay.
//
// Under an agreement (c.AgreementID), the same script counts a subscription
// request against lim.Quota (c.Charge ChargeQuota: charged 0 inside the
// period's quota; beyond it Append records it as ChargeOverage at
// Quota.Overage, and sets c.Price and c.Charge so, or refuses it with a hard
// stop) and draws a prepaid one's c.Drawn from the balance (CreditPrepaid),
// which never goes negative. A retry answered as a duplicate counts and
// draws nothing again, and reports the charge the first run recorded.
//
// Refusals change nothing and wrap ErrReplay, ErrOverMaxPrice, ErrOverCap,
// ErrDayClosed, ErrQuotaExhausted or ErrPrepaidExhausted; a malformed
// commitment wraps ErrInvalid; an unreachable Redis
// wraps ErrUnavailable (the append may then have landed or not: resend it with
// the same RequestID to find out).
//
// Before the script, the account is added to the day's index of accounts with
// usage (another hash slot, so another command): an index entry without usage
// is harmless, usage without an index entry would never be invoiced.
//
// Concurrent Appends share round trips: their scripts are sent together in
// pipelines of at most Options.MaxPipeline; a lone Append goes out at once.
//
// With Options.MinReplicas, Append returns a commitment id only once that
// many replicas of its master have it (WAIT); otherwise it fails with
// ErrUnreplicated (which matches ErrUnavailable): the commitment is on the
// master and may survive, or not, a failover. Resend it to find out.
func (l *Ledger) Append(ctx context.Context, c *Commitment, lim Limits) (string, error) {
	if err := c.validate(lim); err != nil {
		return "", err
	}
	day := Day(c.Received)
	// Redis expires the replay keys by its own clock at this absolute time;
	// the ledger's clock only refuses a window that is already over.
	pxat := c.ReplayUntil.Add(l.margin)
	if !pxat.After(l.now()) {
		return "", fmt.Errorf("%w: replay window ended at %s, before now", ErrInvalid, pxat.UTC().Format("2006-01-02T15:04:05Z"))
	}
	guarded := c.ReplayIDs
	if c.ReplayKeys > 0 {
		guarded = guarded[:c.ReplayKeys]
	}
	keys := make([]string, 0, 4+len(guarded))
	keys = append(keys, l.streamKey(c.Account, day), l.aggKey(c.Account, day),
		l.pubKeyKey(c.Account, c.KeyID), l.profileKey(c.Account, day))
	for _, id := range guarded {
		keys = append(keys, l.replayKey(c.Account, id))
	}
	// The script archives the public key with SET NX, which never
	// overwrites; once this Ledger saw it archived it stops sending it. That
	// is safe even across failovers: the archive is in the same slot as the
	// commitments, so it precedes them in the node's (and its replicas') log.
	archiveKey := c.Account + " " + c.KeyID
	pubKey := c.PublicKey
	if _, ok := l.archived.noted(archiveKey); ok {
		pubKey = ""
	}
	cp, err := c.compact()
	if err != nil {
		return "", err
	}
	// A subscription request beyond its quota is recorded as overage: the
	// script picks that record when the period's quota is used up.
	var overRec []byte
	if q := lim.Quota; q != nil && !q.HardStop {
		o := *c
		o.Price, o.Charge = q.Overage, ChargeOverage
		ocp, err := o.compact()
		if err != nil {
			return "", err
		}
		overRec = ocp.body
	}
	// The dictionary entries are sent until this Ledger saw them stored;
	// without them the script checks that they are there (a failover or a
	// lost fsync may have dropped them) and asks for them otherwise.
	profKey := c.Account + " " + day + " " + cp.profID
	tgtKey := c.Account + " " + day + " " + cp.tgtID
	profArg, tgtArg := cp.prof, cp.tgt
	if _, ok := l.profiled.noted(profKey); ok {
		profArg = nil
	}
	if _, ok := l.profiled.noted(tgtKey); ok {
		tgtArg = nil
	}
	args := []interface{}{
		c.RequestID,
		strconv.FormatInt(int64(c.Price), 10),
		c.Currency,
		c.Currency + "|" + c.Publisher + "|" + c.Site,
		strconv.FormatInt(int64(lim.DailyCap), 10),
		strconv.FormatInt(int64(lim.MaxPrice), 10),
		strconv.FormatInt(pxat.UnixMilli(), 10),
		pubKey,
		cp.body,
		cp.profID,
		profArg,
		cp.tgtID,
		tgtArg,
	}
	const profArgIndex, tgtArgIndex = 10, 12
	akeys, aargs := l.agreementArgs(c, lim.Quota, len(guarded), overRec)
	keys, args = append(keys, akeys...), append(args, aargs...)
	if err := l.indexAccount(ctx, day, c.Account); err != nil {
		return "", err
	}
	cmd, unreplicated := l.pipe.run(ctx, keys, args)
	r, err := reply(cmd)
	if err == nil && len(r) > 0 && r[0] == "profile" {
		l.profiled.forget(profKey)
		l.profiled.forget(tgtKey)
		profArg, tgtArg = cp.prof, cp.tgt
		args[profArgIndex], args[tgtArgIndex] = profArg, tgtArg
		cmd, unreplicated = l.pipe.run(ctx, keys, args)
		r, err = reply(cmd)
	}
	if err != nil {
		return "", fmt.Errorf("ledger: append %s: %w", c.RequestID, err)
	}
	switch r[0] {
	case "ok", "dup":
		if len(r) < 2 {
			break
		}
		if unreplicated != nil {
			return "", fmt.Errorf("ledger: append %s recorded on the master as %s: %w", c.RequestID, r[1], unreplicated)
		}
		if pubKey != "" {
			l.archived.note(archiveKey, time.Now())
		}
		if profArg != nil {
			l.profiled.note(profKey, time.Now())
		}
		if tgtArg != nil {
			l.profiled.note(tgtKey, time.Now())
		}
		if len(r) > 2 && r[2] == "overage" && lim.Quota != nil {
			c.Price, c.Charge = lim.Quota.Overage, ChargeOverage
		}
		c.Day, c.ID = day, r[1]
		return r[1], nil
	case "replay":
		n, _ := strconv.Atoi(r[1])
		id := "?"
		if n >= 1 && n <= len(guarded) {
			id = guarded[n-1]
		}
		return "", fmt.Errorf("%w: replay id %q already used by another request", ErrReplay, clip(id))
	case "closed":
		return "", fmt.Errorf("%w: %s %s is already invoiced", ErrDayClosed, c.Account, day)
	case "maxprice":
		return "", fmt.Errorf("%w: price %s %s above max price %s", ErrOverMaxPrice, c.Currency, c.Price+c.Drawn, lim.MaxPrice)
	case "quota":
		if len(r) < 2 {
			break
		}
		return "", fmt.Errorf("%w: %s used %s of %d requests of agreement %s's period from %s", ErrQuotaExhausted,
			c.Account, r[1], lim.Quota.Included, c.AgreementID, Day(lim.Quota.PeriodStart))
	case "prepaid":
		if len(r) < 2 {
			break
		}
		return "", fmt.Errorf("%w: %s has %s %s left under agreement %s, the request draws %s", ErrPrepaidExhausted,
			c.Account, c.Currency, micros(r[1]), c.AgreementID, c.Drawn)
	case "cap":
		return "", fmt.Errorf("%w: %s spent %s %s on %s, price %s, cap %s",
			ErrOverCap, c.Account, c.Currency, micros(r[1]), day, c.Price, lim.DailyCap)
	case "range":
		return "", fmt.Errorf("%w: day total would exceed %d micro-units", ErrInvalid, int64(MaxAmount))
	}
	return "", fmt.Errorf("ledger: append: unexpected script reply %q", r)
}

// index adds member to the index set key with an idempotent SADD.
func (l *Ledger) index(ctx context.Context, key, member string) error {
	if err := l.rdb.SAdd(ctx, key, member).Err(); err != nil {
		return fmt.Errorf("ledger: index %s: %w", key, wrap(err))
	}
	return nil
}

// indexFresh is how long an entry this Ledger added to a day's index of
// accounts counts as known to exist.
const indexFresh = 10 * time.Second

// indexAccount adds account to the day's index of accounts with usage. The
// SADD is skipped when this Ledger did it less than indexFresh ago: nothing
// deletes index entries, and skipping saves a round trip on the append path.
// Redoing it every indexFresh bounds how long an entry lost in a Redis
// failover (the index lives on another node than the account's data) stays
// missing while the crawler is active.
func (l *Ledger) indexAccount(ctx context.Context, day, account string) error {
	k := day + " " + account
	now := time.Now() // a cache age, not ledger time: the real clock
	if at, ok := l.indexed.noted(k); ok && now.Sub(at) < indexFresh {
		return nil
	}
	if err := l.index(ctx, l.dayAccountsKey(day), account); err != nil {
		return err
	}
	l.indexed.note(k, now)
	return nil
}

// Ledger is the gateway's replay guard (pkg/deferred.ReplayGuard, which this
// package cannot import: it would bring net/http along).
var _ interface {
	Seen(ctx context.Context, account string, ids []string) (bool, error)
} = (*Ledger)(nil)

// Seen reports whether any of ids is a live replay key of account: the
// verifier's read-only pre-check before it forwards a request. Append repeats
// the check atomically; Seen only saves the origin a request that would be
// refused.
func (l *Ledger) Seen(ctx context.Context, account string, ids []string) (bool, error) {
	if err := ValidateAccount(account); err != nil {
		return false, err
	}
	if len(ids) == 0 {
		return false, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = l.replayKey(account, id)
	}
	n, err := l.rdb.Exists(ctx, keys...).Result()
	if err != nil {
		return false, fmt.Errorf("ledger: seen: %w", wrap(err))
	}
	return n > 0, nil
}

// Spent returns what account has committed on day in currency: the gateway's
// cap pre-check. Append enforces the cap atomically regardless.
func (l *Ledger) Spent(ctx context.Context, account, day, currency string) (money.Micros, error) {
	if err := validateKey(account, day, currency); err != nil {
		return 0, err
	}
	s, err := l.rdb.HGet(ctx, l.aggKey(account, day), "m|"+currency).Result()
	if err == redis.Nil {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("ledger: spent: %w", wrap(err))
	}
	return parseMicros(s)
}

// PublicKey returns the public JWK archived for (account, keyid) at the key's
// first use, or ErrNotFound.
func (l *Ledger) PublicKey(ctx context.Context, account, keyid string) (string, error) {
	if err := ValidateAccount(account); err != nil {
		return "", err
	}
	s, err := l.rdb.Get(ctx, l.pubKeyKey(account, keyid)).Result()
	if err == redis.Nil {
		return "", fmt.Errorf("%w: public key %s of %s", ErrNotFound, clip(keyid), account)
	}
	if err != nil {
		return "", fmt.Errorf("ledger: public key: %w", wrap(err))
	}
	return s, nil
}

// validateKey checks the (account, day, currency) triple most reads take.
func validateKey(account, day, currency string) error {
	if err := ValidateAccount(account); err != nil {
		return err
	}
	if err := validateDay(day); err != nil {
		return err
	}
	return validateCurrency(currency)
}

// parseMicros reads an integer amount stored by the ledger.
func parseMicros(s string) (money.Micros, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("ledger: stored amount %q: %w", clip(s), err)
	}
	return money.Micros(v), nil
}

// micros formats a stored integer amount for a message.
func micros(s string) string {
	m, err := parseMicros(s)
	if err != nil {
		return s
	}
	return m.String()
}
