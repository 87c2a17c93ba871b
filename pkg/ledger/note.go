package ledger

import (
	"context"
	"fmt"
	"strconv"
)

// Note is what Record writes on a charging invoice.
type Note struct {
	// Token is the caller's fencing token, as for Transition.
	Token int64
	// Set changes settlement fields; Charged and CarriedOut are refused
	// (they belong to the final transition). A Set with RawTx is a
	// write-ahead record and needs Attempt with its Number.
	Set Settlement
	// Attempt, if not nil, is appended to the invoice's charge attempts.
	Attempt *Attempt
}

// Record writes n on invoice id while it is charging, without changing its
// status: a rail's note about an attempt in flight, above all its write-ahead
// record (the signed transaction, its nonce and hash, stored before
// broadcast, so that after a crash the same transaction is found and never a
// second one sent).
//
// A write-ahead record (n.Set.RawTx set) is kept once per charge attempt:
// recording the same raw transaction again for the same attempt is a no-op,
// a different one fails with ErrConflict and changes nothing. The invoice's
// WriteAhead then names the attempt. Like Transition, Record is fenced (a
// token below the invoice's highest gives ErrFenced), refuses an invoice
// that is not charging with a *TransitionError, and is safe to resend.
func (l *Ledger) Record(ctx context.Context, id string, n Note) error {
	account, day, cur, err := ParseInvoiceID(id)
	if err != nil {
		return err
	}
	if n.Token < 1 || n.Token > int64(MaxAmount) {
		return fmt.Errorf("%w: fencing token %d", ErrInvalid, n.Token)
	}
	if n.Set.Charged != 0 || n.Set.CarriedOut != 0 {
		return fmt.Errorf("%w: a note cannot set charged or carried-out amounts", ErrInvalid)
	}
	sets, err := n.Set.fields()
	if err != nil {
		return err
	}
	wa := ""
	if n.Set.RawTx != "" {
		if n.Attempt == nil || n.Attempt.Number < 1 {
			return fmt.Errorf("%w: a write-ahead record needs its attempt number", ErrInvalid)
		}
		wa = strconv.FormatInt(n.Attempt.Number, 10)
	}
	now := l.now()
	args := make([]interface{}, 0, 24+len(sets))
	args = append(args, n.Token, newTxID(), now.UnixMilli(), wa, n.Set.RawTx, len(sets)/2)
	args = append(args, sets...)
	if a := n.Attempt; a != nil {
		if args, err = a.appendFields(args, now); err != nil {
			return err
		}
	}
	keys := []string{l.invKey(account, day, cur), l.attemptKey(account, day, cur)}
	r, err := reply(l.runDurable(ctx, noteScript, keys, args...))
	if err != nil {
		return fmt.Errorf("ledger: record on invoice %s: %w", id, err)
	}
	switch r[0] {
	case "ok":
		return nil
	case "notfound":
		return fmt.Errorf("%w: invoice %s", ErrNotFound, id)
	case "fenced":
		return fmt.Errorf("%w: invoice %s has seen token %s, got %d", ErrFenced, id, r[1], n.Token)
	case "transition":
		return &TransitionError{Invoice: id, Current: Status(r[1]), Action: "record a charge note"}
	case "conflict":
		return fmt.Errorf("%w: invoice %s attempt %s already recorded transaction %s", ErrConflict, id, wa, r[1])
	}
	return fmt.Errorf("ledger: record: unexpected script reply %q", r)
}
