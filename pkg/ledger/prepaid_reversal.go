package ledger

import (
	"context"
	"fmt"
	"strconv"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// Taking a top-up's credit back. A refunded or disputed top-up gives back
// only what is left of its credit, min(its amount, the balance), since what
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
// nothing changed.
func (l *Ledger) ReversePrepaid(ctx context.Context, r PrepaidReversal) (taken, balance money.Micros, applied bool, err error) {
	if err := r.validate(); err != nil {
		return 0, 0, false, err
	}
	unit := max(r.Unit, 1)
	keys := []string{l.prepaidKey(r.Account, r.Agreement), l.topUpKey(r.Account, r.Agreement)}
	rep, err := reply(l.runDurable(ctx, prepaidReverseScript, keys, r.TopUp,
		strconv.FormatInt(int64(r.Amount), 10), strconv.FormatInt(int64(unit), 10)))
	if err != nil {
		return 0, 0, false, fmt.Errorf("ledger: reverse prepaid %s of %s: %w", r.TopUp, r.Account, err)
	}
	switch {
	case rep[0] == "disputed" && len(rep) == 2:
		return 0, 0, false, fmt.Errorf("%w: top-up %s of %s: dispute %s's chargeback holds its credit until the dispute is decided",
			ErrPrepaidDisputed, r.TopUp, r.Account, clip(rep[1]))
	case rep[0] == "conflict" && len(rep) == 2:
		return 0, 0, false, fmt.Errorf("%w: top-up %s of %s was credited %s, not %s", ErrConflict, r.TopUp, r.Account, micros(rep[1]), r.Amount)
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
// a card dispute's chargeback, once per dispute: min(its amount, the
// balance), nothing if its refund or another dispute took it already, and
// nothing (Matched) if the dispute was reported won before. A top-up never
// credited is taken back whole and never credited afterwards. What the
// crawler had spent of it is not taken: it paid for requests served.
func (l *Ledger) ChargebackPrepaid(ctx context.Context, r PrepaidReversal, dispute string) (PrepaidDispute, error) {
	return l.prepaidDispute(ctx, r, dispute, "take")
}

// ReinstatePrepaid gives back what dispute's chargeback took of top-up
// r.TopUp's credit (ChargebackPrepaid), once: the dispute was won. A
// reinstatement reported before its chargeback gives nothing and is
// recorded (Pending), so that the chargeback, when it comes, takes nothing.
func (l *Ledger) ReinstatePrepaid(ctx context.Context, r PrepaidReversal, dispute string) (PrepaidDispute, error) {
	return l.prepaidDispute(ctx, r, dispute, "give")
}

func (l *Ledger) prepaidDispute(ctx context.Context, r PrepaidReversal, dispute, mode string) (PrepaidDispute, error) {
	if err := r.validate(); err != nil {
		return PrepaidDispute{}, err
	}
	if err := validName(dispute); err != nil {
		return PrepaidDispute{}, fmt.Errorf("%w: dispute id %w", ErrInvalid, err)
	}
	keys := []string{l.prepaidKey(r.Account, r.Agreement), l.topUpKey(r.Account, r.Agreement)}
	rep, err := reply(l.runDurable(ctx, prepaidDisputeScript, keys, r.TopUp, strconv.FormatInt(int64(r.Amount), 10), dispute, mode))
	if err != nil {
		return PrepaidDispute{}, fmt.Errorf("ledger: dispute %s of prepaid %s of %s: %w", dispute, r.TopUp, r.Account, err)
	}
	switch {
	case rep[0] == "conflict" && len(rep) == 2:
		return PrepaidDispute{}, fmt.Errorf("%w: top-up %s of %s was credited %s, not %s", ErrConflict, r.TopUp, r.Account, micros(rep[1]), r.Amount)
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
