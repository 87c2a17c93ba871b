package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// ErrRefundExceeds: a refund above what the invoice charged and has not
// refunded yet (pending refunds count as refunded). Nothing was recorded.
var ErrRefundExceeds = errors.New("ledger: refund exceeds the amount left to refund")

// RefundStatus is the status of one refund of an invoice.
type RefundStatus string

// Refund statuses: pending until the rail's answer is known, then done or
// failed (both final).
const (
	RefundPending RefundStatus = "pending"
	RefundDone    RefundStatus = "done"
	RefundFailed  RefundStatus = "failed"
)

// Refund states of an invoice, as Invoice.RefundState reports them.
const (
	// RefundStatePartial: some of the charged amount was refunded.
	RefundStatePartial = "partially_refunded"
	// RefundStateFull: all of the charged amount was refunded.
	RefundStateFull = "refunded"
)

// Refund is one refund of a paid invoice.
type Refund struct {
	// Seq is the refund's sequence number on its invoice (1, 2, …): with
	// the invoice id it names the refund, and the rails derive their
	// idempotency from it.
	Seq    int64
	Amount money.Micros
	Status RefundStatus
	// Reference is the rail's id: a Stripe refund id or a transaction hash.
	Reference string
	// Error says why a failed refund failed.
	Error string
	// Actor and Reason are who asked for the refund and why.
	Actor, Reason string
	At            time.Time
	// RawTx and Nonce are the write-ahead record of a chain refund.
	RawTx string
	Nonce int64
}

// RefundState is "" when nothing was refunded, RefundStatePartial when some
// of the charged amount was, RefundStateFull when all of it was.
func (inv *Invoice) RefundState() string {
	switch {
	case inv.Refunded <= 0:
		return ""
	case inv.Refunded >= inv.Charged:
		return RefundStateFull
	}
	return RefundStatePartial
}

// Refundable is what may still be refunded: charged minus refunded minus
// pending refunds.
func (inv *Invoice) Refundable() money.Micros {
	if inv.Status != StatusPaid {
		return 0
	}
	return inv.Charged - inv.Refunded - inv.RefundPending
}

// NextRefund is the sequence number of the invoice's next refund.
func (inv *Invoice) NextRefund() int64 { return int64(len(inv.Refunds)) + 1 }

// RefundRequest asks BeginRefund for a refund.
type RefundRequest struct {
	// Token is the caller's fencing token, as for Transition.
	Token int64
	// Seq must be the invoice's NextRefund.
	Seq    int64
	Amount money.Micros
	// Actor (required) and Reason are recorded with the refund.
	Actor, Reason string
}

// BeginRefund records refund r.Seq of paid invoice id as pending, in one
// script: the amount is reserved, so that refunded plus pending refunds
// never exceed the charged amount (else ErrRefundExceeds). It is idempotent
// by (invoice, sequence): a sequence already recorded with the same amount
// returns it with created=false, with another amount ErrConflict. A sequence
// other than the next gives ErrInvalid, an invoice that is not paid a
// *TransitionError, a stale token ErrFenced. The refund is recorded in the
// invoice's history.
func (l *Ledger) BeginRefund(ctx context.Context, id string, r RefundRequest) (ref Refund, created bool, err error) {
	if r.Amount <= 0 || r.Amount > MaxAmount {
		return Refund{}, false, fmt.Errorf("%w: refund amount %s: want more than 0", ErrInvalid, r.Amount)
	}
	if err := validText("actor", r.Actor, maxShort, true); err != nil {
		return Refund{}, false, err
	}
	if err := validText("reason", r.Reason, maxURL, false); err != nil {
		return Refund{}, false, err
	}
	rep, err := l.refundScript(ctx, id, "begin", r.Token, r.Seq, int64(r.Amount), r.Actor, r.Reason)
	if err != nil {
		return Refund{}, false, err
	}
	switch rep[0] {
	case "ok":
	case "exists":
		if len(rep) == 3 && rep[2] != strconv.FormatInt(int64(r.Amount), 10) {
			return Refund{}, false, fmt.Errorf("%w: invoice %s refund %d is for %s, not %s",
				ErrConflict, id, r.Seq, micros(rep[2]), r.Amount)
		}
	case "sequence":
		return Refund{}, false, fmt.Errorf("%w: invoice %s has %s refunds; the next is %s, not %d",
			ErrInvalid, id, rep[1], next(rep[1]), r.Seq)
	case "toomuch":
		return Refund{}, false, fmt.Errorf("%w: invoice %s: a refund of %s is above the %s left to refund",
			ErrRefundExceeds, id, r.Amount, micros(rep[1]))
	default:
		return Refund{}, false, refundReplyError(id, "refund", r.Token, rep)
	}
	ref, err = l.refund(ctx, id, r.Seq)
	return ref, rep[0] == "ok", err
}

// RefundNote is what NoteRefund writes on a pending refund.
type RefundNote struct {
	// Token is the caller's fencing token.
	Token int64
	// RawTx and Nonce are the write-ahead record of a chain refund,
	// recorded before broadcast: the same raw transaction again is a no-op,
	// another one ErrConflict.
	RawTx string
	Nonce int64
	// Reference is the rail's id, once known.
	Reference string
}

// NoteRefund writes n on pending refund seq of invoice id. A refund that is
// done or failed gives a *TransitionError, an unknown one ErrNotFound.
func (l *Ledger) NoteRefund(ctx context.Context, id string, seq int64, n RefundNote) error {
	if err := validText("raw tx", n.RawTx, maxRawTx, false); err != nil {
		return err
	}
	if err := validText("reference", n.Reference, maxURL, false); err != nil {
		return err
	}
	if n.Nonce < 0 || money.Micros(n.Nonce) > MaxAmount {
		return fmt.Errorf("%w: nonce %d", ErrInvalid, n.Nonce)
	}
	rep, err := l.refundScript(ctx, id, "note", n.Token, seq, n.RawTx, n.Nonce, n.Reference)
	if err != nil {
		return err
	}
	switch rep[0] {
	case "ok":
		return nil
	case "conflict":
		return fmt.Errorf("%w: invoice %s refund %d already recorded transaction %s", ErrConflict, id, seq, rep[1])
	}
	return refundReplyError(id, fmt.Sprintf("note refund %d", seq), n.Token, rep)
}

// RefundResult is the end of a refund, for FinishRefund.
type RefundResult struct {
	Token int64
	// Status is RefundDone or RefundFailed.
	Status RefundStatus
	// Reference is the rail's id; Error why it failed.
	Reference, Error string
	// Actor (required) and Reason are recorded in the history.
	Actor, Reason string
}

// FinishRefund ends pending refund seq of invoice id: done adds its amount
// to the invoice's refunded total, failed releases it. Finishing it again
// with the same status is a no-op; with the other a *TransitionError.
func (l *Ledger) FinishRefund(ctx context.Context, id string, seq int64, r RefundResult) error {
	if r.Status != RefundDone && r.Status != RefundFailed {
		return fmt.Errorf("%w: refund status %q: want done or failed", ErrInvalid, clip(string(r.Status)))
	}
	if err := validText("actor", r.Actor, maxShort, true); err != nil {
		return err
	}
	for _, f := range [...]struct{ name, v string }{{"reason", r.Reason}, {"reference", r.Reference}, {"error", r.Error}} {
		if err := validText(f.name, f.v, maxURL, false); err != nil {
			return err
		}
	}
	rep, err := l.refundScript(ctx, id, "finish", r.Token, seq, string(r.Status), r.Reference, r.Error, r.Actor, r.Reason)
	if err != nil {
		return err
	}
	if rep[0] == "ok" {
		return nil
	}
	return refundReplyError(id, fmt.Sprintf("finish refund %d", seq), r.Token, rep)
}

// refundScript runs refund.lua.
func (l *Ledger) refundScript(ctx context.Context, id, op string, token, seq int64, args ...interface{}) ([]string, error) {
	account, day, cur, err := ParseInvoiceID(id)
	if err != nil {
		return nil, err
	}
	if token < 1 || money.Micros(token) > MaxAmount {
		return nil, fmt.Errorf("%w: fencing token %d", ErrInvalid, token)
	}
	if seq < 1 || seq > 1_000_000 {
		return nil, fmt.Errorf("%w: refund sequence %d", ErrInvalid, seq)
	}
	keys := []string{l.invKey(account, day, cur), l.histKey(account, day, cur)}
	argv := append([]interface{}{op, token, seq, l.now().UnixMilli()}, args...)
	rep, err := reply(l.runDurable(ctx, refundScript, keys, argv...))
	if err != nil {
		return nil, fmt.Errorf("ledger: %s refund %d of invoice %s: %w", op, seq, id, err)
	}
	return rep, nil
}

// refund reads refund seq of invoice id.
func (l *Ledger) refund(ctx context.Context, id string, seq int64) (Refund, error) {
	inv, err := l.Invoice(ctx, id)
	if err != nil {
		return Refund{}, err
	}
	if seq < 1 || seq > int64(len(inv.Refunds)) {
		return Refund{}, fmt.Errorf("%w: invoice %s refund %d", ErrNotFound, id, seq)
	}
	return inv.Refunds[seq-1], nil
}

// refundReplyError maps the replies every operation of refund.lua shares.
func refundReplyError(id, action string, token int64, rep []string) error {
	arg := ""
	if len(rep) > 1 {
		arg = rep[1]
	}
	switch rep[0] {
	case "notfound":
		return fmt.Errorf("%w: invoice %s", ErrNotFound, id)
	case "norefund":
		return fmt.Errorf("%w: invoice %s: no such refund (%s)", ErrNotFound, id, action)
	case "fenced":
		return fmt.Errorf("%w: invoice %s has seen token %s, got %d", ErrFenced, id, arg, token)
	case "transition":
		return &TransitionError{Invoice: id, Current: Status(arg), Action: action}
	case "final":
		return &TransitionError{Invoice: id, Current: Status("refund " + arg), Action: action}
	}
	return fmt.Errorf("ledger: %s: unexpected script reply %q", action, rep)
}

func next(n string) string {
	v, _ := strconv.ParseInt(n, 10, 64)
	return strconv.FormatInt(v+1, 10)
}

// parseRefunds reads the refund records of an invoice hash.
func parseRefunds(p *fieldParser) []Refund {
	n := p.int("refunds")
	if n > 1_000_000 {
		n = 1_000_000
	}
	out := make([]Refund, 0, n)
	for i := int64(1); i <= n; i++ {
		pre := "r" + strconv.FormatInt(i, 10) + "."
		out = append(out, Refund{
			Seq:       i,
			Amount:    money.Micros(p.int(pre + "amount")),
			Status:    RefundStatus(p.h[pre+"status"]),
			Reference: p.h[pre+"ref"],
			Error:     p.h[pre+"error"],
			Actor:     p.h[pre+"actor"],
			Reason:    p.h[pre+"reason"],
			At:        p.ms(pre + "at"),
			RawTx:     p.h[pre+"raw_tx"],
			Nonce:     p.int(pre + "nonce"),
		})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
