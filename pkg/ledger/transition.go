package ledger

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// Status is an invoice's settlement status.
type Status string

// Invoice statuses.
const (
	// StatusDraft: created from the day's usage, in the review window.
	StatusDraft Status = "draft"
	// StatusHeld: finance stopped it for review.
	StatusHeld Status = "held"
	// StatusApproved: ready to charge.
	StatusApproved Status = "approved"
	// StatusCharging: a charge is in flight on a rail.
	StatusCharging Status = "charging"
	// StatusPending: the rail answered processing or requires_action.
	StatusPending Status = "pending"
	// StatusPaid: collected (final).
	StatusPaid Status = "paid"
	// StatusFailed: the charge failed; it may be retried, held or voided.
	StatusFailed Status = "failed"
	// StatusVoid: cancelled; its carried-in amount returns to the carry-over
	// balance (final).
	StatusVoid Status = "void"
	// StatusCarried: the whole amount was below the rail's minimum and moved
	// to the carry-over balance (final).
	StatusCarried Status = "carried"
)

// statuses lists every status.
var statuses = []Status{
	StatusDraft, StatusHeld, StatusApproved, StatusCharging, StatusPending,
	StatusPaid, StatusFailed, StatusVoid, StatusCarried,
}

// transitions is the state machine: from → allowed targets. Paid, void and
// carried are final. The Lua script receives, for a target, the statuses it
// may be reached from, so this table is the only copy.
var transitions = map[Status][]Status{
	StatusDraft:    {StatusApproved, StatusHeld, StatusVoid},
	StatusApproved: {StatusCharging, StatusHeld, StatusVoid},
	StatusCharging: {StatusPaid, StatusPending, StatusFailed, StatusCarried},
	StatusPending:  {StatusPaid, StatusFailed},
	StatusFailed:   {StatusCharging, StatusHeld, StatusVoid},
	StatusHeld:     {StatusDraft, StatusVoid},
}

// CanTransition reports whether the state machine allows from → to.
func CanTransition(from, to Status) bool {
	for _, t := range transitions[from] {
		if t == to {
			return true
		}
	}
	return false
}

// Final reports whether s is a final status (paid, void, carried).
func (s Status) Final() bool { return s == StatusPaid || s == StatusVoid || s == StatusCarried }

// sourcesOf lists the statuses to may be reached from.
func sourcesOf(to Status) []string {
	var out []string
	for _, from := range statuses {
		if CanTransition(from, to) {
			out = append(out, string(from))
		}
	}
	return out
}

// Transition asks for one status change of an invoice.
type Transition struct {
	// To is the target status.
	To Status
	// Token is the caller's fencing token (from AcquireLock), >= 1. The
	// invoice keeps the highest token it has seen and refuses a lower one
	// with ErrFenced.
	Token int64
	// Actor (required) and Reason are recorded in the history.
	Actor, Reason string
	// Set changes settlement fields in the same atomic step.
	Set Settlement
	// Attempt, if not nil, is appended to the invoice's charge attempts in
	// the same atomic step.
	Attempt *Attempt
}

// Settlement holds settlement fields a transition (or Record) may set. Zero
// values leave the stored value unchanged.
type Settlement struct {
	Rail, PaymentIntent, TxHash string
	Block                       int64
	// Charged is what the rail collected; CarriedOut what moves to the
	// carry-over balance when the invoice becomes paid or carried. For those
	// two statuses Charged+CarriedOut must equal the invoice total (carried:
	// Charged 0), else ErrAmounts.
	Charged, CarriedOut money.Micros
	Error               string
	// RawTx is a signed chain transaction (hex), kept as a write-ahead record
	// so that the very same transaction can be rebroadcast after a crash.
	// Nonce is its nonce; it is stored whenever RawTx is set (0 is a valid
	// nonce) and ignored otherwise.
	RawTx string
	Nonce int64
}

// TransitionError reports a change the invoice's current status forbids. It
// matches ErrTransition with errors.Is.
type TransitionError struct {
	Invoice string
	// Current is the invoice's status when the change was refused.
	Current Status
	// To is the refused target, or empty when Action says what was refused.
	To     Status
	Action string
}

// Error names the invoice, its current status and what was refused.
func (e *TransitionError) Error() string {
	what := e.Action
	if what == "" {
		what = "move to " + string(e.To)
	}
	return fmt.Sprintf("ledger: invoice %s is %s: cannot %s", e.Invoice, e.Current, what)
}

// Unwrap makes errors.Is(err, ErrTransition) true.
func (e *TransitionError) Unwrap() error { return ErrTransition }

// Transition moves invoice id to tr.To if the state machine allows it from
// the current status (compare-and-set in one script), applies tr.Set, records
// the change (from, to, time, actor, reason, token) in the history and
// tr.Attempt in the attempts, and moves carry-over: a paid or carried invoice
// adds its CarriedOut to the crawler's balance; a voided one returns its
// CarriedIn. A forbidden change returns a *TransitionError naming the current
// status; a stale token ErrFenced. A resent call (go-redis retry) is a no-op.
func (l *Ledger) Transition(ctx context.Context, id string, tr Transition) error {
	account, day, cur, err := ParseInvoiceID(id)
	if err != nil {
		return err
	}
	if _, ok := transitionsTo[tr.To]; !ok {
		return fmt.Errorf("%w: unknown status %q", ErrInvalid, clip(string(tr.To)))
	}
	if tr.Token < 1 || money.Micros(tr.Token) > MaxAmount {
		return fmt.Errorf("%w: fencing token %d", ErrInvalid, tr.Token)
	}
	if err := validText("actor", tr.Actor, maxShort, true); err != nil {
		return err
	}
	if err := validText("reason", tr.Reason, maxURL, false); err != nil {
		return err
	}
	sets, err := tr.Set.fields()
	if err != nil {
		return err
	}
	now := l.now()
	sources := transitionsTo[tr.To]
	args := make([]interface{}, 0, 16+len(sources)+len(sets))
	args = append(args, string(tr.To), tr.Token, newTxID(), now.UnixMilli(), tr.Actor, tr.Reason, len(sources))
	for _, s := range sources {
		args = append(args, s)
	}
	args = append(args, len(sets)/2)
	args = append(args, sets...)
	if a := tr.Attempt; a != nil {
		if args, err = a.appendFields(args, now); err != nil {
			return err
		}
	}
	keys := []string{
		l.invKey(account, day, cur), l.histKey(account, day, cur), l.attemptKey(account, day, cur),
		l.carryKey(account, cur), l.carryLogKey(account, cur),
	}
	r, err := reply(l.runDurable(ctx, transitionScript, keys, args...))
	if err != nil {
		return fmt.Errorf("ledger: invoice %s to %s: %w", id, tr.To, err)
	}
	switch r[0] {
	case "ok":
		return nil
	case "notfound":
		return fmt.Errorf("%w: invoice %s", ErrNotFound, id)
	case "fenced":
		return fmt.Errorf("%w: invoice %s has seen token %s, got %d", ErrFenced, id, r[1], tr.Token)
	case "transition":
		return &TransitionError{Invoice: id, Current: Status(r[1]), To: tr.To}
	case "amounts":
		if len(r) == 4 {
			return fmt.Errorf("%w: invoice %s total %s, charged %s + carried out %s",
				ErrAmounts, id, micros(r[1]), micros(r[2]), micros(r[3]))
		}
	}
	return fmt.Errorf("ledger: transition: unexpected script reply %q", r)
}

// transitionsTo maps each status to the statuses it may be reached from.
var transitionsTo = func() map[Status][]string {
	m := make(map[Status][]string, len(statuses))
	for _, s := range statuses {
		m[s] = sourcesOf(s)
	}
	return m
}()

// fields returns the non-zero settlement fields as hash field/value pairs.
func (s Settlement) fields() ([]interface{}, error) {
	var out []interface{}
	for _, f := range [...]struct{ name, v string }{
		{"rail", s.Rail}, {"payment_intent", s.PaymentIntent}, {"tx_hash", s.TxHash}, {"error", s.Error},
	} {
		if err := validText(f.name, f.v, maxURL, false); err != nil {
			return nil, err
		}
		if f.v != "" {
			out = append(out, f.name, f.v)
		}
	}
	if err := validText("raw tx", s.RawTx, maxRawTx, false); err != nil {
		return nil, err
	}
	if s.RawTx != "" {
		if s.Nonce < 0 || money.Micros(s.Nonce) > MaxAmount {
			return nil, fmt.Errorf("%w: nonce %d", ErrInvalid, s.Nonce)
		}
		out = append(out, "raw_tx", s.RawTx, "nonce", strconv.FormatInt(s.Nonce, 10))
	}
	if s.Block < 0 {
		return nil, fmt.Errorf("%w: block %d", ErrInvalid, s.Block)
	}
	if s.Block > 0 {
		out = append(out, "block", strconv.FormatInt(s.Block, 10))
	}
	for _, a := range [...]struct {
		name string
		m    money.Micros
	}{{"charged", s.Charged}, {"carried_out", s.CarriedOut}} {
		if err := validateAmount(a.name, a.m); err != nil {
			return nil, err
		}
		if a.m != 0 {
			out = append(out, a.name, strconv.FormatInt(int64(a.m), 10))
		}
	}
	return out, nil
}

// appendFields appends the attempt's stream record to args.
func (a *Attempt) appendFields(args []interface{}, now time.Time) ([]interface{}, error) {
	if err := validateAmount("attempt amount", a.Amount); err != nil {
		return nil, err
	}
	if a.Number < 0 || money.Micros(a.Number) > MaxAmount {
		return nil, fmt.Errorf("%w: attempt number %d", ErrInvalid, a.Number)
	}
	for _, f := range [...]struct{ name, v string }{
		{"rail", a.Rail}, {"ref", a.Reference}, {"outcome", a.Outcome}, {"error", a.Error},
	} {
		if err := validText("attempt "+f.name, f.v, maxURL, false); err != nil {
			return nil, err
		}
	}
	at := now.UnixMilli()
	if !a.At.IsZero() {
		at = a.At.UnixMilli()
	}
	return append(args, "at", at, "n", a.Number, "rail", a.Rail, "ref", a.Reference,
		"amount", int64(a.Amount), "outcome", a.Outcome, "error", a.Error), nil
}
