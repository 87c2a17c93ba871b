package ledger

import (
	"context"
	"fmt"
)

// Results of a day's check, as RecordCheck stores them in Invoice.Check.
const (
	CheckOK       = "ok"
	CheckMismatch = "mismatch"
)

// Check is the result of checking an invoice's crawler-day: its aggregate
// against the stream of commitments (Verify).
type Check struct {
	// Token is the caller's fencing token, as for Transition.
	Token int64
	// OK reports that the aggregate matched the stream.
	OK bool
	// Actor (required) and Reason are recorded in the history.
	Actor, Reason string
}

// RecordCheck records c on a draft or held invoice: Invoice.Check becomes
// "ok" or "mismatch", Invoice.Checked the time, and the history gets an event
// of kind "check". The first result recorded wins: a later call changes
// nothing and returns the stored result (ok reports whether it is "ok"), so a
// resent or repeated call is harmless. Another status gives a
// *TransitionError, a stale token ErrFenced.
func (l *Ledger) RecordCheck(ctx context.Context, id string, c Check) (ok bool, err error) {
	account, day, cur, err := ParseInvoiceID(id)
	if err != nil {
		return false, err
	}
	if c.Token < 1 || c.Token > int64(MaxAmount) {
		return false, fmt.Errorf("%w: fencing token %d", ErrInvalid, c.Token)
	}
	if err := validText("actor", c.Actor, maxShort, true); err != nil {
		return false, err
	}
	if err := validText("reason", c.Reason, maxURL, false); err != nil {
		return false, err
	}
	result := CheckMismatch
	if c.OK {
		result = CheckOK
	}
	keys := []string{l.invKey(account, day, cur), l.histKey(account, day, cur)}
	r, err := reply(l.runDurable(ctx, checkScript, keys, c.Token, result, l.now().UnixMilli(), c.Actor, c.Reason))
	if err != nil {
		return false, fmt.Errorf("ledger: check of invoice %s: %w", id, err)
	}
	switch {
	case r[0] == "ok" && len(r) == 2:
		return r[1] == CheckOK, nil
	case r[0] == "notfound":
		return false, fmt.Errorf("%w: invoice %s", ErrNotFound, id)
	case r[0] == "fenced" && len(r) == 2:
		return false, fmt.Errorf("%w: invoice %s has seen token %s, got %d", ErrFenced, id, r[1], c.Token)
	case r[0] == "transition" && len(r) == 2:
		return false, &TransitionError{Invoice: id, Current: Status(r[1]), Action: "record a check"}
	}
	return false, fmt.Errorf("ledger: check: unexpected script reply %q", r)
}
