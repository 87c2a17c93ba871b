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

// Taking a top-up's credit back. A refunded or disputed top-up gives back
// only what is left of its credit, min(its amount, the balance) (a
// chargeback no more than the disputed amount), since what
// was drawn paid for requests already served. Each way is idempotent by an
// id the script checks itself (prepaid_reverse.lua, prepaid_dispute.lua):
//
//	ppt field                  value
//	r|<top-up>                 taken back by its refund (once per top-up)
//	d|<top-up>|<dispute>       taken back by the dispute's chargeback
//	w|<top-up>|<dispute>       given back when the dispute was won; "p" while
//	                           its chargeback has not been reported (a won
//	                           dispute reported first: the chargeback, when it
//	                           comes, takes nothing)
//	c|<top-up>                 the dispute whose chargeback holds the credit now
//	a|stop                     why automatic top-ups stopped (PrepaidStopped):
//	                           "<refund|chargeback>|<version>|<unix ms>|<top-up>", the
//	                           last refund or chargeback that took credit back
//
// A top-up not credited yet (its charge paid, its credit not written) is
// recorded as credited and taken back whole, the balance unchanged, so that
// a later CreditPrepaid of it is a duplicate that adds nothing.

// PrepaidReversal names the top-up whose credit is taken back or given
// back.
type PrepaidReversal struct {
	// Account and Agreement name the prepaid balance; TopUp the top-up's
	// id in it (as credited by CreditPrepaid).
	Account, Agreement, TopUp string
	// Amount is the top-up's amount: a top-up credited another amount is
	// ErrConflict, and one never credited is recorded as this amount,
	// credited and taken back.
	Amount money.Micros
	// Unit makes what ReversePrepaid takes a multiple of it, rounded down
	// (the rail's smallest refund: a cent, 10,000 micro-units, on Stripe);
	// 0 means 1. Disputes take to the micro-unit.
	Unit money.Micros
	// Version is the agreement version the top-up was bought under (0 if
	// unknown), recorded with the stop of automatic top-ups that a refund
	// or a chargeback writes (PrepaidStopped).
	Version int64
}

func (r PrepaidReversal) validate() error {
	if err := validatePrepaid(r.Account, r.Agreement); err != nil {
		return err
	}
	if err := validName(r.TopUp); err != nil {
		return fmt.Errorf("%w: top-up id %w", ErrInvalid, err)
	}
	if r.Amount <= 0 || r.Amount > MaxAmount {
		return fmt.Errorf("%w: top-up amount %d outside 1..%d micro-units", ErrInvalid, int64(r.Amount), int64(MaxAmount))
	}
	if r.Unit < 0 || r.Unit > MaxAmount {
		return fmt.Errorf("%w: unit %d", ErrInvalid, int64(r.Unit))
	}
	if r.Version < 0 {
		return fmt.Errorf("%w: agreement version %d", ErrInvalid, r.Version)
	}
	return nil
}

// ReversePrepaid takes back what is left of top-up r.TopUp's credit from
// the prepaid balance for its refund, once per top-up: min(its amount, the
// balance) rounded down to r.Unit, atomically, so that no request draws it
// while the refund is under way. The settler calls it before it records a
// refund of the top-up, and refunds taken. A resend returns what the first
// call took and changes nothing (applied is false). A top-up never credited
// is taken back whole (taken is r.Amount, the balance unchanged) and is
// never credited afterwards. A top-up whose credit a dispute's chargeback
// holds is ErrPrepaidDisputed, one credited another amount ErrConflict:
// nothing changed. A reversal applied stops automatic top-ups of the
// balance (PrepaidStopped) until the settler resumes them (ResumePrepaid).
func (l *Ledger) ReversePrepaid(ctx context.Context, r PrepaidReversal) (taken, balance money.Micros, applied bool, err error) {
	if err := r.validate(); err != nil {
		return 0, 0, false, err
	}
	unit := max(r.Unit, 1)
	keys := []string{l.prepaidKey(r.Account, r.Agreement), l.topUpKey(r.Account, r.Agreement)}
	rep, err := reply(l.runDurable(ctx, prepaidReverseScript, keys, r.TopUp,
		strconv.FormatInt(int64(r.Amount), 10), strconv.FormatInt(int64(unit), 10), strconv.FormatInt(r.Version, 10), l.now().UnixMilli()))
	if err != nil {
		return 0, 0, false, fmt.Errorf("ledger: reverse prepaid %s of %s: %w", r.TopUp, r.Account, err)
	}
	switch {
	case rep[0] == "disputed" && len(rep) == 2:
		return 0, 0, false, fmt.Errorf("%w: top-up %s of %s: dispute %s's chargeback holds its credit until the dispute is decided",
			ErrPrepaidDisputed, r.TopUp, r.Account, clip(rep[1]))
	case rep[0] == "conflict" && len(rep) == 2:
		return 0, 0, false, fmt.Errorf("%w: top-up %s of %s was credited %s, not %s", ErrPrepaidConflict, r.TopUp, r.Account, micros(rep[1]), r.Amount)
	case (rep[0] == "ok" || rep[0] == "dup") && len(rep) == 3:
		if taken, err = parseMicros(rep[1]); err != nil {
			return 0, 0, false, err
		}
		balance, err = parseMicros(rep[2])
		return taken, balance, rep[0] == "ok", err
	}
	return 0, 0, false, fmt.Errorf("ledger: reverse prepaid: unexpected script reply %q", rep)
}

// PrepaidDispute says what a dispute did to a top-up's credit.
type PrepaidDispute struct {
	// Moved is what was taken back (a chargeback) or given back (a
	// reinstatement); on a duplicate, what the first report moved.
	Moved money.Micros
	// Balance is the prepaid balance after it.
	Balance money.Micros
	// Applied is false for a report already recorded: nothing changed.
	Applied bool
	// Matched: a chargeback whose dispute was reported won before it
	// took nothing (net zero). Pending: a reinstatement reported before
	// its chargeback gave nothing and makes that chargeback take nothing.
	Matched, Pending bool
}

// ChargebackPrepaid takes back what is left of top-up r.TopUp's credit for
// a card dispute's chargeback of amount (1..r.Amount), once per dispute:
// min(amount, the top-up's amount, the balance), nothing if its refund or
// another dispute took it already, and nothing (Matched) if the dispute was
// reported won before. A top-up never credited is credited now, less
// amount taken back, and never credited afterwards. What the crawler had
// spent of it is not taken: it paid for requests served. A chargeback
// applied (not Matched) stops automatic top-ups of the balance
// (PrepaidStopped) until the settler resumes them (ResumePrepaid).
func (l *Ledger) ChargebackPrepaid(ctx context.Context, r PrepaidReversal, dispute string, amount money.Micros) (PrepaidDispute, error) {
	if amount <= 0 || amount > r.Amount {
		return PrepaidDispute{}, fmt.Errorf("%w: chargeback %s of top-up %s: want 1..%d micro-units (its amount)", ErrInvalid, amount, r.TopUp, int64(r.Amount))
	}
	return l.prepaidDispute(ctx, r, dispute, "take", amount)
}

// ReinstatePrepaid gives back what dispute's chargeback took of top-up
// r.TopUp's credit (ChargebackPrepaid), once: the dispute was won. A
// reinstatement reported before its chargeback gives nothing and is
// recorded (Pending), so that the chargeback, when it comes, takes nothing.
func (l *Ledger) ReinstatePrepaid(ctx context.Context, r PrepaidReversal, dispute string) (PrepaidDispute, error) {
	return l.prepaidDispute(ctx, r, dispute, "give", 0)
}

func (l *Ledger) prepaidDispute(ctx context.Context, r PrepaidReversal, dispute, mode string, amount money.Micros) (PrepaidDispute, error) {
	if err := r.validate(); err != nil {
		return PrepaidDispute{}, err
	}
	if err := validName(dispute); err != nil {
		return PrepaidDispute{}, fmt.Errorf("%w: dispute id %w", ErrInvalid, err)
	}
	keys := []string{l.prepaidKey(r.Account, r.Agreement), l.topUpKey(r.Account, r.Agreement)}
	rep, err := reply(l.runDurable(ctx, prepaidDisputeScript, keys, r.TopUp, strconv.FormatInt(int64(r.Amount), 10), dispute, mode,
		strconv.FormatInt(int64(amount), 10), strconv.FormatInt(r.Version, 10), l.now().UnixMilli()))
	if err != nil {
		return PrepaidDispute{}, fmt.Errorf("ledger: dispute %s of prepaid %s of %s: %w", dispute, r.TopUp, r.Account, err)
	}
	switch {
	case rep[0] == "conflict" && len(rep) == 2:
		return PrepaidDispute{}, fmt.Errorf("%w: top-up %s of %s was credited %s, not %s", ErrPrepaidConflict, r.TopUp, r.Account, micros(rep[1]), r.Amount)
	case rep[0] == "range" && len(rep) == 2:
		return PrepaidDispute{}, fmt.Errorf("%w: balance %s plus what dispute %s gives back would exceed %d micro-units", ErrInvalid, micros(rep[1]), dispute, int64(MaxAmount))
	case len(rep) != 3:
		return PrepaidDispute{}, fmt.Errorf("ledger: prepaid dispute: unexpected script reply %q", rep)
	}
	var d PrepaidDispute
	switch rep[0] {
	case "ok":
		d.Applied = true
	case "matched":
		d.Applied, d.Matched = true, true
	case "pending":
		d.Applied, d.Pending = true, true
	case "dup":
	default:
		return PrepaidDispute{}, fmt.Errorf("ledger: prepaid dispute: unexpected script reply %q", rep)
	}
	if d.Moved, err = parseMicros(rep[1]); err != nil {
		return PrepaidDispute{}, err
	}
	d.Balance, err = parseMicros(rep[2])
	return d, err
}

// PrepaidTopUpState is what the ledger holds of one top-up's credit.
type PrepaidTopUpState struct {
	// Credited is the amount credited (0: never credited, nor taken back).
	Credited money.Micros
	// Reversed says its refund took its credit back (ReversePrepaid), and
	// Taken how much.
	Reversed bool
	Taken    money.Micros
	// HeldBy is the dispute whose chargeback holds its credit now, if any.
	HeldBy string
}

// PrepaidTopUp returns the state of top-up topUp's credit in account's
// prepaid balance under agreement.
func (l *Ledger) PrepaidTopUp(ctx context.Context, account, agreement, topUp string) (PrepaidTopUpState, error) {
	if err := validatePrepaid(account, agreement); err != nil {
		return PrepaidTopUpState{}, err
	}
	if err := validName(topUp); err != nil {
		return PrepaidTopUpState{}, fmt.Errorf("%w: top-up id %w", ErrInvalid, err)
	}
	vals, err := l.rdb.HMGet(ctx, l.topUpKey(account, agreement), topUp, "r|"+topUp, "c|"+topUp).Result()
	if err != nil {
		return PrepaidTopUpState{}, fmt.Errorf("ledger: prepaid top-up: %w", wrap(err))
	}
	var st PrepaidTopUpState
	if s, ok := vals[0].(string); ok {
		if st.Credited, err = parseMicros(s); err != nil {
			return PrepaidTopUpState{}, err
		}
	}
	if s, ok := vals[1].(string); ok {
		st.Reversed = true
		if st.Taken, err = parseMicros(s); err != nil {
			return PrepaidTopUpState{}, err
		}
	}
	st.HeldBy, _ = vals[2].(string)
	return st, nil
}

// PrepaidStop is why automatic top-ups of a prepaid balance stopped: the
// last refund or chargeback that took a top-up's credit back.
type PrepaidStop struct {
	// By is "refund" or "chargeback".
	By string
	// TopUp is the top-up's id; Version the agreement version it was
	// bought under (0 if unknown).
	TopUp   string
	Version int64
	// At is when the refund or chargeback was recorded.
	At time.Time
}

// PrepaidStopped returns why automatic top-ups of account's prepaid
// balance under agreement stopped, or nil if they did not (or were
// resumed since).
func (l *Ledger) PrepaidStopped(ctx context.Context, account, agreement string) (*PrepaidStop, error) {
	if err := validatePrepaid(account, agreement); err != nil {
		return nil, err
	}
	v, err := l.rdb.HGet(ctx, l.topUpKey(account, agreement), "a|stop").Result()
	if err == redis.Nil {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: prepaid stop: %w", wrap(err))
	}
	parts := strings.SplitN(v, "|", 4)
	if len(parts) != 4 {
		return nil, fmt.Errorf("ledger: prepaid stop of %s %s: unreadable %q", account, agreement, clip(v))
	}
	ver, err := strconv.ParseInt(parts[1], 10, 64)
	ms, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || err2 != nil {
		return nil, fmt.Errorf("ledger: prepaid stop of %s %s: unreadable %q", account, agreement, clip(v))
	}
	return &PrepaidStop{By: parts[0], TopUp: parts[3], Version: ver, At: time.UnixMilli(ms).UTC()}, nil
}

// ResumePrepaid clears the stop of automatic top-ups of account's prepaid
// balance under agreement, if it still names top-up topUp (as read by
// PrepaidStopped): a refund or a chargeback recorded since keeps them
// stopped. It reports whether it cleared it.
func (l *Ledger) ResumePrepaid(ctx context.Context, account, agreement, topUp string) (bool, error) {
	if err := validatePrepaid(account, agreement); err != nil {
		return false, err
	}
	if err := validName(topUp); err != nil {
		return false, fmt.Errorf("%w: top-up id %w", ErrInvalid, err)
	}
	n, err := l.runDurable(ctx, prepaidResumeScript, []string{l.topUpKey(account, agreement)}, topUp).Int64()
	if err != nil {
		return false, fmt.Errorf("ledger: resume prepaid of %s %s: %w", account, agreement, wrap(err))
	}
	return n == 1, nil
}
