package ledger

import (
	"errors"
	"fmt"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// refundCases are the suite's cases of refunds.
var refundCases = []suiteCase{
	{"RefundRecords", testRefundRecords},
	{"RefundOnlyPaid", testRefundOnlyPaid},
}

// paidInvoice returns a paid invoice of account, charged its total.
func (e *env) paidInvoice(account string, prices ...money.Micros) *Invoice {
	e.t.Helper()
	inv := e.invoice(account, prices...)
	for _, s := range pathTo[StatusPaid] {
		e.move(inv.ID, Transition{To: s, Set: settleFields(s, inv.Total)})
	}
	return e.get(inv.ID)
}

// testRefundRecords runs refunds of a paid invoice of 1.000000 step by step:
// each step's error, and the refunded, pending and state afterwards.
func testRefundRecords(t *testing.T, e *env) {
	inv := e.paidInvoice("refunds", 600_000, 400_000)
	if inv.Charged != 1_000_000 || inv.RefundState() != "" || inv.Refundable() != 1_000_000 {
		t.Fatalf("paid invoice: charged %s, state %q, refundable %s", inv.Charged, inv.RefundState(), inv.Refundable())
	}
	type step struct {
		name string
		do   func() error
		want error
		// after the step
		refunded, pending money.Micros
		state             string
		refunds           int
	}
	begin := func(seq int64, amount money.Micros) func() error {
		return func() error {
			_, _, err := e.l.BeginRefund(e.ctx, inv.ID, RefundRequest{Token: 1, Seq: seq, Amount: amount, Actor: "fin", Reason: "duplicate crawl"})
			return err
		}
	}
	finish := func(seq int64, st RefundStatus) func() error {
		return func() error {
			return e.l.FinishRefund(e.ctx, inv.ID, seq, RefundResult{Token: 1, Status: st, Reference: fmt.Sprintf("re_%d", seq), Actor: "settler"})
		}
	}
	steps := []step{
		{"zero amount", begin(1, 0), ErrInvalid, 0, 0, "", 0},
		{"negative amount", begin(1, -5), ErrInvalid, 0, 0, "", 0},
		{"above charged", begin(1, 1_000_001), ErrRefundExceeds, 0, 0, "", 0},
		{"not the next sequence", begin(2, 100_000), ErrInvalid, 0, 0, "", 0},
		{"first pending", begin(1, 300_000), nil, 0, 300_000, "", 1},
		{"resent begin is the same refund", begin(1, 300_000), nil, 0, 300_000, "", 1},
		{"same sequence, other amount", begin(1, 200_000), ErrConflict, 0, 300_000, "", 1},
		{"pending counts against what remains", begin(2, 700_001), ErrRefundExceeds, 0, 300_000, "", 1},
		{"unknown refund", finish(3, RefundDone), ErrNotFound, 0, 300_000, "", 1},
		{"first done", finish(1, RefundDone), nil, 300_000, 0, RefundStatePartial, 1},
		{"done again is a no-op", finish(1, RefundDone), nil, 300_000, 0, RefundStatePartial, 1},
		{"done cannot become failed", finish(1, RefundFailed), ErrTransition, 300_000, 0, RefundStatePartial, 1},
		{"second pending", begin(2, 500_000), nil, 300_000, 500_000, RefundStatePartial, 2},
		{"second failed releases it", finish(2, RefundFailed), nil, 300_000, 0, RefundStatePartial, 2},
		{"the rest, above it", begin(3, 700_001), ErrRefundExceeds, 300_000, 0, RefundStatePartial, 2},
		{"the rest", begin(3, 700_000), nil, 300_000, 700_000, RefundStatePartial, 3},
		{"the rest done", finish(3, RefundDone), nil, 1_000_000, 0, RefundStateFull, 3},
		{"nothing remains", begin(4, 1), ErrRefundExceeds, 1_000_000, 0, RefundStateFull, 3},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			err := s.do()
			if s.want == nil && err != nil || s.want != nil && !errors.Is(err, s.want) {
				t.Fatalf("error = %v, want %v", err, s.want)
			}
			got := e.get(inv.ID)
			if got.Refunded != s.refunded || got.RefundPending != s.pending || got.RefundState() != s.state || len(got.Refunds) != s.refunds {
				t.Fatalf("refunded %s, pending %s, state %q, %d refunds; want %s, %s, %q, %d",
					got.Refunded, got.RefundPending, got.RefundState(), len(got.Refunds), s.refunded, s.pending, s.state, s.refunds)
			}
			if got.Status != StatusPaid || got.Refunded+got.RefundPending > got.Charged {
				t.Fatalf("status %s, refunded %s + pending %s above charged %s", got.Status, got.Refunded, got.RefundPending, got.Charged)
			}
		})
	}
	got := e.get(inv.ID)
	want := []struct {
		amount money.Micros
		status RefundStatus
	}{{300_000, RefundDone}, {500_000, RefundFailed}, {700_000, RefundDone}}
	for i, w := range want {
		r := got.Refunds[i]
		if r.Seq != int64(i+1) || r.Amount != w.amount || r.Status != w.status || r.Reference != fmt.Sprintf("re_%d", i+1) ||
			r.Actor != "fin" || r.Reason != "duplicate crawl" || r.At.IsZero() {
			t.Errorf("refund %d = %+v, want %s %s", i+1, r, w.amount, w.status)
		}
	}
	// The history: three begins and three ends, in order.
	var hist []string
	for _, ev := range got.History {
		if ev.Kind == "refund" {
			hist = append(hist, fmt.Sprintf("%d:%s:%s", ev.Refund, ev.RefundStatus, ev.Amount))
		}
	}
	wantHist := fmt.Sprint([]string{"1:pending:0.30", "1:done:0.30", "2:pending:0.50", "2:failed:0.50",
		"3:pending:0.70", "3:done:0.70"})
	if fmt.Sprint(hist) != wantHist {
		t.Errorf("refund history %v, want %v", hist, wantHist)
	}
	// The write-ahead record of a chain refund: once per refund.
	inv2 := e.paidInvoice("refunds-chain", 500_000)
	if _, created, err := e.l.BeginRefund(e.ctx, inv2.ID, RefundRequest{Token: 1, Seq: 1, Amount: 500_000, Actor: "fin"}); err != nil || !created {
		t.Fatalf("BeginRefund = %v, %v", created, err)
	}
	if err := e.l.NoteRefund(e.ctx, inv2.ID, 1, RefundNote{Token: 1, RawTx: "0xaa", Nonce: 0, Reference: "0xhash"}); err != nil {
		t.Fatal(err)
	}
	if err := e.l.NoteRefund(e.ctx, inv2.ID, 1, RefundNote{Token: 1, RawTx: "0xaa", Nonce: 0}); err != nil {
		t.Fatalf("same raw tx again: %v", err)
	}
	wantErr(t, e.l.NoteRefund(e.ctx, inv2.ID, 1, RefundNote{Token: 1, RawTx: "0xbb", Nonce: 1}), ErrConflict)
	wantErr(t, e.l.NoteRefund(e.ctx, inv2.ID, 1, RefundNote{Token: 0}), ErrInvalid)
	if r := e.get(inv2.ID).Refunds[0]; r.RawTx != "0xaa" || r.Nonce != 0 || r.Reference != "0xhash" || r.Status != RefundPending {
		t.Fatalf("write-ahead refund = %+v", r)
	}
	if err := e.l.FinishRefund(e.ctx, inv2.ID, 1, RefundResult{Token: 7, Status: RefundDone, Actor: "settler"}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.l.NoteRefund(e.ctx, inv2.ID, 1, RefundNote{Token: 7}), ErrTransition)
	_, _, err := e.l.BeginRefund(e.ctx, inv2.ID, RefundRequest{Token: 6, Seq: 2, Amount: 1, Actor: "fin"})
	wantErr(t, err, ErrFenced)
}

// testRefundOnlyPaid: every status but paid refuses a refund with a
// *TransitionError and changes nothing; refunds leave the transitions of a
// paid invoice as they were (none: paid stays final).
func testRefundOnlyPaid(t *testing.T, e *env) {
	for i, st := range statuses {
		t.Run(string(st), func(t *testing.T) {
			inv := e.invoice(fmt.Sprintf("ronly-%d", i), 250_000)
			for _, s := range pathTo[st] {
				e.move(inv.ID, Transition{To: s, Set: settleFields(s, inv.Total)})
			}
			before := e.get(inv.ID)
			_, _, err := e.l.BeginRefund(e.ctx, inv.ID, RefundRequest{Token: 1, Seq: 1, Amount: 1, Actor: "fin"})
			if st == StatusPaid {
				if err != nil {
					t.Fatalf("refund of a paid invoice: %v", err)
				}
				if len(transitions[StatusPaid]) != 0 {
					t.Fatalf("paid has transitions %v", transitions[StatusPaid])
				}
				return
			}
			var te *TransitionError
			if !errors.As(err, &te) || te.Current != st {
				t.Fatalf("refund of a %s invoice: %v, want a *TransitionError", st, err)
			}
			if after := e.get(inv.ID); len(after.Refunds) != 0 || len(after.History) != len(before.History) {
				t.Fatalf("a refused refund changed the invoice: %+v", after)
			}
		})
	}
	_, _, err := e.l.BeginRefund(e.ctx, InvoiceID("nobody", e.today(), "USD"), RefundRequest{Token: 1, Seq: 1, Amount: 1, Actor: "fin"})
	wantErr(t, err, ErrNotFound)
}
