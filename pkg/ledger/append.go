package ledger

import (
	"context"
	"fmt"
	"strconv"
	"strings"
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
	day := l.days.Of(c.Received)
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
	cp, err := c.compactIn(&l.entries)
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
	call := l.newAppendCall(c, day, guarded, cp)
	call.price, call.cap, call.maxPrice = int64(c.Price), int64(lim.DailyCap), int64(lim.MaxPrice)
	call.pxat = pxat.UnixMilli()
	// The script archives the public key with SET NX, which never
	// overwrites; once this Ledger saw it archived it stops sending it. That
	// is safe even across failovers: the archive is in the same slot as the
	// commitments, so it precedes them in the node's (and its replicas') log.
	if _, ok := l.archived.noted(call.archiveKey); !ok {
		call.pubKey = c.PublicKey
	}
	// The dictionary entries are sent until this Ledger saw them stored;
	// without them the script checks that they are there (a failover or a
	// lost fsync may have dropped them) and asks for them otherwise.
	if _, ok := l.profiled.noted(call.profKey); !ok {
		call.argv[profArgIndex] = cp.prof.encArg
	}
	if _, ok := l.profiled.noted(call.tgtKey); !ok {
		call.argv[tgtArgIndex] = cp.tgt.encArg
	}
	keys, args := call.keys, call.argv[:]
	akeys, aargs := l.agreementArgs(c, lim.Quota, len(guarded), overRec)
	keys, args = append(keys, akeys...), append(args, aargs...)
	if err := l.indexAccount(ctx, call.indexKey, day, c.Account); err != nil {
		return "", err
	}
	cmd, unreplicated := l.pipe.run(ctx, keys, args)
	r, err := reply(cmd)
	if err == nil && len(r) > 0 && r[0] == "profile" {
		l.profiled.forget(call.profKey)
		l.profiled.forget(call.tgtKey)
		args[profArgIndex], args[tgtArgIndex] = cp.prof.encArg, cp.tgt.encArg
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
		if call.pubKey != "" {
			l.archived.note(strings.Clone(call.archiveKey), time.Now())
		}
		if args[profArgIndex] != nil {
			l.profiled.note(strings.Clone(call.profKey), time.Now())
		}
		if args[tgtArgIndex] != nil {
			l.profiled.note(strings.Clone(call.tgtKey), time.Now())
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
//
// k is "<day> <account>"; the caller builds it.
func (l *Ledger) indexAccount(ctx context.Context, k, day, account string) error {
	now := time.Now() // a cache age, not ledger time: the real clock
	if at, ok := l.indexed.noted(k); ok && now.Sub(at) < indexFresh {
		return nil
	}
	if err := l.index(ctx, l.dayAccountsKey(day), account); err != nil {
		return err
	}
	l.indexed.note(strings.Clone(k), now)
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

// appendCall is one Append's script call: its keys, its arguments, and the
// memo keys it looks up, in one allocation and one string. Its arguments
// are pointers into it, which go-redis writes as the values they point to
// (strings, decimal integers, bytes): building the call boxes nothing.
type appendCall struct {
	keyBuf [6]string // room for two replay keys
	keys   []string
	// archiveKey is "<account> <keyid>", indexKey "<day> <account>",
	// profKey and tgtKey "<account> <day> <entry id>" (see Ledger).
	archiveKey, indexKey, profKey, tgtKey string

	requestID, currency, field, pubKey string
	price, cap, maxPrice, pxat         int64
	body                               bytesArg
	argv                               [13]any
}

// The indexes in appendCall.argv of the dictionary entries, nil once this
// Ledger saw them stored.
const profArgIndex, tgtArgIndex = 10, 12

// bytesArg is a byte string script argument, passed by pointer.
type bytesArg []byte

// MarshalBinary implements encoding.BinaryMarshaler, which go-redis uses to
// write an argument of a type it does not know.
func (b *bytesArg) MarshalBinary() ([]byte, error) { return *b, nil }

// newAppendCall builds the script call that appends c (compacted as cp) to
// day, guarded by the replay ids guarded. The caller sets the amounts, the
// public key and the dictionary entries.
func (l *Ledger) newAppendCall(c *Commitment, day string, guarded []string, cp *compacted) *appendCall {
	call := &appendCall{requestID: c.RequestID, currency: c.Currency, body: cp.body}
	// Every string the call needs, cut from one.
	var sb strings.Builder
	n := 5*(len(l.prefix)+len(c.Account)+8) + len(day)*5 + len(c.KeyID) + len(c.Account)*4 +
		len(c.Currency) + len(c.Publisher) + len(c.Site) + len(cp.prof.id) + len(cp.tgt.id) + 16
	for _, id := range guarded {
		n += len(l.prefix) + len(c.Account) + len(id) + 8
	}
	sb.Grow(n)
	var marks [4 + maxReplayIDs + 6]int
	m := 0
	mark := func() { marks[m] = sb.Len(); m++ }
	key := func(kind, rest string) {
		sb.WriteString(l.prefix)
		sb.WriteString(":{")
		sb.WriteString(c.Account)
		sb.WriteString("}:")
		sb.WriteString(kind)
		sb.WriteByte(':')
		sb.WriteString(rest)
		mark()
	}
	mark()
	key("c", day)
	key("a", day)
	key("pk", c.KeyID)
	key("pr", day)
	for _, id := range guarded {
		key("rp", id)
	}
	for _, part := range [...]string{c.Currency, "|", c.Publisher, "|", c.Site} {
		sb.WriteString(part)
	}
	mark()
	for _, part := range [...]string{c.Account, " ", c.KeyID} {
		sb.WriteString(part)
	}
	mark()
	for _, part := range [...]string{day, " ", c.Account} {
		sb.WriteString(part)
	}
	mark()
	// "<account> <day> <profile id>" and "<account> <day> <target id>".
	for _, id := range [...]string{cp.prof.id, cp.tgt.id} {
		for _, part := range [...]string{c.Account, " ", day, " ", id} {
			sb.WriteString(part)
		}
		mark()
	}
	all := sb.String()
	cut := func(i int) string { return all[marks[i]:marks[i+1]] }
	nk := 4 + len(guarded)
	call.keys = call.keyBuf[:0]
	for i := 0; i < nk; i++ {
		call.keys = append(call.keys, cut(i))
	}
	call.field, call.archiveKey, call.indexKey = cut(nk), cut(nk+1), cut(nk+2)
	call.profKey, call.tgtKey = cut(nk+3), cut(nk+4)
	call.argv = [13]any{
		&call.requestID, &call.price, &call.currency, &call.field, &call.cap, &call.maxPrice, &call.pxat,
		&call.pubKey, &call.body, cp.prof.idArg, nil, cp.tgt.idArg, nil,
	}
	return call
}
