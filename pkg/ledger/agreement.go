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

// Agreements in the ledger. A commitment charged under an agreement (a
// negotiated rate, a subscription, a prepaid balance: pkg/agreement) records
// the agreement's id and version, the site's list price, the charge kind
// and, for a prepaid one, what it drew; a subscription's quota counter and
// a prepaid balance live in the crawler's slot, beside its commitments, so
// that the append script checks and moves them in the same round trip as
// the commitment:
//
//	<p>:{<a>}:q:<agreement>:<period start>  string  requests recorded in the period, every
//	                                                version of the agreement counted together;
//	                                                expires QuotaRetention after the period
//	<p>:{<a>}:pp:<agreement>                string  prepaid balance, integer micro-units, never negative
//	<p>:{<a>}:ppt:<agreement>               hash    prepaid top-ups credited: top-up id → amount;
//	                                                and how each was taken back (prepaid_reversal.go):
//	                                                "r|<top-up>" by its refund, "d|<top-up>|<dispute>"
//	                                                by a chargeback, "w|<top-up>|<dispute>" given
//	                                                back (won), "c|<top-up>" the dispute holding it;
//	                                                "a|stop" why automatic top-ups stopped

// ChargeKind says how an agreement decided a commitment's Price.
type ChargeKind string

// Charge kinds. The empty kind is a commitment without an agreement, charged
// the site's price (Commitment.Kind reports it as ChargeList).
const (
	// ChargeList: the site's price, no agreement.
	ChargeList ChargeKind = "list"
	// ChargeRate: a negotiated rate (a fixed price or a discount).
	ChargeRate ChargeKind = "rate"
	// ChargeQuota: inside a subscription's quota, charged 0. Append turns
	// it into ChargeOverage when the period's quota is used up.
	ChargeQuota ChargeKind = "quota"
	// ChargeOverage: beyond a subscription's quota, charged Quota.Overage.
	ChargeOverage ChargeKind = "overage"
	// ChargePrepaid: drawn from a prepaid balance (Drawn), charged 0.
	ChargePrepaid ChargeKind = "prepaid"
)

// chargeCodes are the kinds' one-byte codes in a compact record.
var chargeCodes = [...]ChargeKind{1: ChargeRate, 2: ChargeQuota, 3: ChargeOverage, 4: ChargePrepaid}

func chargeCode(k ChargeKind) byte {
	for i, v := range chargeCodes {
		if i > 0 && v == k {
			return byte(i)
		}
	}
	return 0
}

// Kind is how c's Price was decided: its Charge, or ChargeList for a
// commitment without an agreement.
func (c *Commitment) Kind() ChargeKind {
	if c.Charge == "" {
		return ChargeList
	}
	return c.Charge
}

// QuotaRetention is how long a quota counter outlives its period, for the
// settler's and finance's reads.
const QuotaRetention = 7 * 24 * time.Hour

// Quota is the period of a subscription that a ChargeQuota commitment
// counts against (Limits.Quota). The period's counter is shared by every
// version of the agreement, so a version that supersedes another mid-period
// applies its Included to what the period has already used.
type Quota struct {
	// PeriodStart and PeriodEnd bound the subscription's current period
	// (pkg/agreement's periods: a week from Monday 00:00 UTC, a month from
	// the 1st); the commitment's Received must be inside. PeriodStart's
	// UTC date names the counter.
	PeriodStart, PeriodEnd time.Time
	// Included is how many requests of the period are charged the
	// commitment's Price (0). Every request recorded in the period counts,
	// overage included.
	Included int64
	// Overage is the price of a request beyond Included.
	Overage money.Micros
	// HardStop refuses a request beyond Included (ErrQuotaExhausted)
	// instead of charging Overage.
	HardStop bool
}

// validateAgreement checks the agreement fields of c against the quota it
// names, if any.
func (c *Commitment) validateAgreement(q *Quota) error {
	if c.AgreementID == "" {
		if c.AgreementVersion != 0 || c.ListPrice != 0 || c.Charge != "" || c.Drawn != 0 || q != nil {
			return fmt.Errorf("%w: agreement version, list price, charge kind, drawn amount or quota without an agreement id", ErrInvalid)
		}
		return nil
	}
	if err := validName(c.AgreementID); err != nil {
		return fmt.Errorf("%w: agreement id %w", ErrInvalid, err)
	}
	if c.AgreementVersion < 1 || c.AgreementVersion > int64(MaxAmount) {
		return fmt.Errorf("%w: agreement version %d, want 1 or more", ErrInvalid, c.AgreementVersion)
	}
	for _, a := range []struct {
		what string
		m    money.Micros
	}{{"list price", c.ListPrice}, {"drawn amount", c.Drawn}} {
		if err := validateAmount(a.what, a.m); err != nil {
			return err
		}
	}
	if c.Drawn != 0 && c.Charge != ChargePrepaid {
		return fmt.Errorf("%w: a drawn amount on a %q commitment (only prepaid ones draw)", ErrInvalid, c.Charge)
	}
	if (q != nil) != (c.Charge == ChargeQuota) {
		return fmt.Errorf("%w: a quota commitment needs a quota, and only it takes one (charge %q)", ErrInvalid, c.Charge)
	}
	switch c.Charge {
	case ChargeRate:
	case ChargePrepaid:
		if c.Price != 0 {
			return fmt.Errorf("%w: a prepaid commitment is charged 0 (it draws %s), not %s", ErrInvalid, c.Drawn, c.Price)
		}
	case ChargeQuota:
		if c.Price != 0 {
			return fmt.Errorf("%w: a commitment inside a quota is charged 0, not %s", ErrInvalid, c.Price)
		}
		return q.validate(c.Received)
	case ChargeOverage:
		return fmt.Errorf("%w: charge %q is decided by Append: pass %q and the quota", ErrInvalid, ChargeOverage, ChargeQuota)
	default:
		return fmt.Errorf("%w: charge kind %q with an agreement, want rate, quota or prepaid", ErrInvalid, clip(string(c.Charge)))
	}
	return nil
}

func (q *Quota) validate(received time.Time) error {
	if q.PeriodStart.IsZero() || !q.PeriodEnd.After(q.PeriodStart) {
		return fmt.Errorf("%w: quota period %s to %s", ErrInvalid, q.PeriodStart, q.PeriodEnd)
	}
	if received.Before(q.PeriodStart) || !received.Before(q.PeriodEnd) {
		return fmt.Errorf("%w: received at %s, outside the quota period %s to %s", ErrInvalid,
			received.UTC().Format(time.RFC3339), q.PeriodStart.UTC().Format(time.RFC3339), q.PeriodEnd.UTC().Format(time.RFC3339))
	}
	if q.Included < 0 || q.Included > int64(MaxAmount) {
		return fmt.Errorf("%w: quota of %d requests", ErrInvalid, q.Included)
	}
	return validateAmount("overage price", q.Overage)
}

// agreementArgs returns the append script's KEYS and ARGV beyond a plain
// commitment's (see lua/append.lua), or nil, nil when c has no agreement:
// its append sends exactly what it did before agreements. overage is the
// compact record of c beyond its quota.
func (l *Ledger) agreementArgs(c *Commitment, q *Quota, replayKeys int, overage []byte) (keys []string, args []interface{}) {
	if c.AgreementID == "" {
		return nil, nil
	}
	included, overPrice, overRec, expires, drawn := "", "", []byte(nil), "", ""
	if q != nil {
		keys = append(keys, l.quotaKey(c.Account, c.AgreementID, q.PeriodStart))
		included = strconv.FormatInt(q.Included, 10)
		if !q.HardStop {
			overPrice, overRec = strconv.FormatInt(int64(q.Overage), 10), overage
		}
		expires = strconv.FormatInt(q.PeriodEnd.Add(QuotaRetention).UnixMilli(), 10)
	}
	if c.Charge == ChargePrepaid {
		keys = append(keys, l.prepaidKey(c.Account, c.AgreementID))
		drawn = strconv.FormatInt(int64(c.Drawn), 10)
	}
	return keys, []interface{}{strconv.Itoa(replayKeys), included, overPrice, overRec, expires, drawn}
}

// CreditPrepaid adds amount to account's prepaid balance under agreement,
// once per topUp id: the settler calls it after the top-up's charge
// succeeded. A resent credit of the same top-up and amount changes nothing
// (applied is false); the same top-up id with another amount is refused
// with ErrConflict. It returns the balance after the credit.
func (l *Ledger) CreditPrepaid(ctx context.Context, account, agreement, topUp string, amount money.Micros) (balance money.Micros, applied bool, err error) {
	if err := validatePrepaid(account, agreement); err != nil {
		return 0, false, err
	}
	if err := validName(topUp); err != nil {
		return 0, false, fmt.Errorf("%w: top-up id %w", ErrInvalid, err)
	}
	if amount <= 0 || amount > MaxAmount {
		return 0, false, fmt.Errorf("%w: top-up amount %d outside 1..%d micro-units", ErrInvalid, int64(amount), int64(MaxAmount))
	}
	keys := []string{l.prepaidKey(account, agreement), l.topUpKey(account, agreement)}
	r, err := reply(l.runDurable(ctx, prepaidCreditScript, keys, topUp, strconv.FormatInt(int64(amount), 10)))
	if err != nil {
		return 0, false, fmt.Errorf("ledger: credit prepaid %s of %s: %w", topUp, account, err)
	}
	if len(r) != 2 {
		return 0, false, fmt.Errorf("ledger: credit prepaid: unexpected script reply %q", r)
	}
	switch r[0] {
	case "ok", "dup":
		b, err := parseMicros(r[1])
		return b, r[0] == "ok", err
	case "conflict":
		return 0, false, fmt.Errorf("%w: top-up %s of %s was credited %s, not %s", ErrPrepaidConflict, topUp, account, micros(r[1]), amount)
	case "range":
		return 0, false, fmt.Errorf("%w: balance %s plus %s would exceed %d micro-units", ErrInvalid, micros(r[1]), amount, int64(MaxAmount))
	}
	return 0, false, fmt.Errorf("ledger: credit prepaid: unexpected script reply %q", r)
}

// PrepaidBalance returns account's prepaid balance under agreement (0 if
// never credited).
func (l *Ledger) PrepaidBalance(ctx context.Context, account, agreement string) (money.Micros, error) {
	if err := validatePrepaid(account, agreement); err != nil {
		return 0, err
	}
	s, err := l.rdb.Get(ctx, l.prepaidKey(account, agreement)).Result()
	if err == redis.Nil {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("ledger: prepaid balance: %w", wrap(err))
	}
	return parseMicros(s)
}

// PrepaidTopUps returns the top-ups credited to account's prepaid balance
// under agreement: top-up id → amount (as credited, whatever ReversePrepaid
// or a dispute took back since; a top-up refunded or charged back before it
// was credited is listed too, as credited and taken back).
func (l *Ledger) PrepaidTopUps(ctx context.Context, account, agreement string) (map[string]money.Micros, error) {
	if err := validatePrepaid(account, agreement); err != nil {
		return nil, err
	}
	h, err := l.rdb.HGetAll(ctx, l.topUpKey(account, agreement)).Result()
	if err != nil {
		return nil, fmt.Errorf("ledger: prepaid top-ups: %w", wrap(err))
	}
	out := make(map[string]money.Micros, len(h))
	for id, s := range h {
		if strings.Contains(id, "|") {
			continue // how a top-up was taken back (prepaid_reversal.go)
		}
		m, err := parseMicros(s)
		if err != nil {
			return nil, err
		}
		out[id] = m
	}
	return out, nil
}

// QuotaUsed returns how many requests account recorded under agreement in
// the subscription period that starts at periodStart (0 if none, or once
// the counter expired, QuotaRetention after the period).
func (l *Ledger) QuotaUsed(ctx context.Context, account, agreement string, periodStart time.Time) (int64, error) {
	if err := validatePrepaid(account, agreement); err != nil {
		return 0, err
	}
	n, err := l.rdb.Get(ctx, l.quotaKey(account, agreement, periodStart)).Int64()
	if err == redis.Nil {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("ledger: quota used: %w", wrap(err))
	}
	return n, nil
}

// validatePrepaid checks the (account, agreement) pair of a balance or a
// counter.
func validatePrepaid(account, agreement string) error {
	if err := ValidateAccount(account); err != nil {
		return err
	}
	if err := validName(agreement); err != nil {
		return fmt.Errorf("%w: agreement id %w", ErrInvalid, err)
	}
	return nil
}
