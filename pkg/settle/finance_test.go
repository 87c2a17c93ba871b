package settle_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testledger"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// drive moves invoice id along testledger.PathTo(st) under the settler
// lock, as a settlement run would.
func (e *env) drive(id string, st ledger.Status) {
	e.t.Helper()
	token, release, err := e.l.AcquireLock(e.ctx, settle.LockName, time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	defer release()
	inv := e.invoice(id)
	for _, to := range testledger.PathTo(st) {
		tr := ledger.Transition{To: to, Token: token, Actor: "test", Reason: "test drives it"}
		switch to {
		case ledger.StatusPaid:
			tr.Set = ledger.Settlement{Rail: "stripe", PaymentIntent: "pi_test", Charged: inv.Total}
		case ledger.StatusCarried:
			tr.Set = ledger.Settlement{Rail: "stripe", CarriedOut: inv.Total}
		case ledger.StatusFailed:
			tr.Set = ledger.Settlement{Error: "card declined"}
		}
		if err := e.l.Transition(e.ctx, id, tr); err != nil {
			e.t.Fatalf("drive %s to %s: %v", id, to, err)
		}
	}
}

// closedInvoices gives each name a checked draft invoice of its own crawler
// on day 0 (two lines: 0.30 on news, 0.05 on blog), closed by a settler.
func (e *env) closedInvoices(names ...string) map[string]string {
	e.t.Helper()
	ids := map[string]string{}
	for _, n := range names {
		account := "op_" + n
		e.use(account, 0, "pub_news", "news.example", "USD", 100_000, 200_000)
		e.use(account, 0, "pub_blog", "blog.example", "USD", 50_000)
		ids[n] = ledger.InvoiceID(account, e.day(0), "USD")
	}
	e.clock.Set(e.closeTime(0))
	if _, err := e.settler(hooks{}).Close(e.ctx, e.day(0)); err != nil {
		e.t.Fatal(err)
	}
	return ids
}

// historyLen counts an invoice's history entries.
func (e *env) historyLen(id string) int { return len(e.invoice(id).History) }

// TestFinanceActionsInEveryStatus runs each finance action on an invoice in
// each status: the state machine allows it (the invoice moves, one history
// entry names the actor and reason), it already took effect (nothing is
// written), or it is refused with an error naming the current status.
func TestFinanceActionsInEveryStatus(t *testing.T) {
	e := newEnv(t, rails{})
	type act func(s *settle.Settler, id string) (*settle.ReviewResult, error)
	review := settle.Review{Actor: "alice", Reason: "disputed by the publisher"}
	actions := []struct {
		name string
		do   act
		// to is the status after a change; done the statuses where the
		// action already took effect; allowed where it changes the invoice.
		to      ledger.Status
		done    []ledger.Status
		allowed []ledger.Status
	}{
		{"hold", func(s *settle.Settler, id string) (*settle.ReviewResult, error) { return s.Hold(e.ctx, id, review) },
			ledger.StatusHeld, []ledger.Status{ledger.StatusHeld},
			[]ledger.Status{ledger.StatusDraft, ledger.StatusApproved, ledger.StatusFailed}},
		{"release", func(s *settle.Settler, id string) (*settle.ReviewResult, error) { return s.Release(e.ctx, id, review) },
			ledger.StatusDraft, []ledger.Status{ledger.StatusDraft},
			[]ledger.Status{ledger.StatusHeld}},
		{"void", func(s *settle.Settler, id string) (*settle.ReviewResult, error) { return s.Void(e.ctx, id, review) },
			ledger.StatusVoid, []ledger.Status{ledger.StatusVoid},
			[]ledger.Status{ledger.StatusDraft, ledger.StatusHeld, ledger.StatusApproved, ledger.StatusFailed}},
		{"approve", func(s *settle.Settler, id string) (*settle.ReviewResult, error) {
			return s.ApproveEarly(e.ctx, id, review)
		}, ledger.StatusApproved, []ledger.Status{ledger.StatusApproved}, []ledger.Status{ledger.StatusDraft}},
		{"credit", func(s *settle.Settler, id string) (*settle.ReviewResult, error) {
			return s.Credit(e.ctx, id, 1, 100_000, review) // pub_news, 0.30
		}, "", nil, []ledger.Status{ledger.StatusDraft, ledger.StatusHeld}},
	}
	var names []string
	for _, a := range actions {
		for _, st := range testledger.Statuses() {
			names = append(names, a.name+"_"+string(st))
		}
	}
	ids := e.closedInvoices(names...)
	for _, a := range actions {
		for _, st := range testledger.Statuses() {
			e.drive(ids[a.name+"_"+string(st)], st)
		}
	}
	s := e.settler(hooks{})
	for _, a := range actions {
		for _, st := range testledger.Statuses() {
			t.Run(a.name+" "+string(st), func(t *testing.T) {
				id := ids[a.name+"_"+string(st)]
				before := e.invoice(id)
				res, err := a.do(s, id)
				switch {
				case contains(a.allowed, st):
					if err != nil || !res.Changed {
						t.Fatalf("= %+v, %v; want a change", res, err)
					}
					want := a.to
					if want == "" {
						want = st
					}
					inv := e.invoice(id)
					last := inv.History[len(inv.History)-1]
					if inv.Status != want || res.Invoice.Status != want || len(inv.History) != len(before.History)+1 ||
						last.Actor != "alice" || last.Reason != review.Reason {
						t.Fatalf("after %s: status %s (result %s), %d history entries (was %d), last %+v",
							a.name, inv.Status, res.Invoice.Status, len(inv.History), len(before.History), last)
					}
					// Repeating it is harmless: it already took effect.
					again, err := a.do(s, id)
					if err != nil || again.Changed || again.Invoice.Status != want || e.historyLen(id) != len(inv.History) {
						t.Fatalf("repeat = %+v, %v; %d history entries", again, err, e.historyLen(id))
					}
				case contains(a.done, st):
					if err != nil || res.Changed || res.Invoice.Status != st || e.historyLen(id) != len(before.History) {
						t.Fatalf("= %+v, %v; want no change", res, err)
					}
				default:
					var te *ledger.TransitionError
					if !errors.As(err, &te) || te.Current != st || !errors.Is(err, ledger.ErrTransition) {
						t.Fatalf("error = %v, want a refusal naming %s", err, st)
					}
					wantMsg := fmt.Sprintf("invoice %s is %s: cannot %s", id, st, a.name)
					if a.name == "credit" {
						wantMsg = fmt.Sprintf("invoice %s is %s: cannot credit a line", id, st)
					}
					if !strings.Contains(err.Error(), wantMsg) {
						t.Errorf("message %q, want it to say %q", err, wantMsg)
					}
					if after := e.invoice(id); after.Status != st || len(after.History) != len(before.History) || after.Total != before.Total {
						t.Fatalf("a refused action changed the invoice: %+v", after)
					}
				}
			})
		}
	}
}

func contains(list []ledger.Status, st ledger.Status) bool {
	for _, s := range list {
		if s == st {
			return true
		}
	}
	return false
}

// TestCreditIsAbsoluteAndBounded: a credit sets the line's credit (not adds
// to it), lowers the total, is recorded once however often it is sent, can
// be removed with 0, and never exceeds the line.
func TestCreditIsAbsoluteAndBounded(t *testing.T) {
	e := newEnv(t, rails{})
	id := e.closedInvoices("credit")["credit"]
	s := e.settler(hooks{})
	r := settle.Review{Actor: "bob", Reason: "robots.txt disallowed these pages"}
	inv := e.invoice(id)
	if inv.Total != 350_000 || len(inv.Lines) != 2 {
		t.Fatalf("invoice %+v", inv)
	}
	news := 1 // lines are sorted by publisher: pub_blog, pub_news
	if inv.Lines[news].Publisher != "pub_news" {
		t.Fatalf("lines %+v", inv.Lines)
	}
	steps := []struct {
		name    string
		line    int
		amount  money.Micros
		review  settle.Review
		changed bool
		errIs   error
		errHas  string
		total   money.Micros
	}{
		{"credit 0.10", news, 100_000, r, true, nil, "", 250_000},
		{"the same again", news, 100_000, r, false, nil, "", 250_000},
		{"absolute, not added", news, 120_000, r, true, nil, "", 230_000},
		{"the whole line", news, 300_000, r, true, nil, "", 50_000},
		{"above the line", news, 300_001, r, false, ledger.ErrInvalid, "exceeds the line's amount 0.30", 50_000},
		{"no such line", 2, 1, r, false, ledger.ErrInvalid, "has 2 lines, no line 3", 50_000},
		{"negative line", -1, 1, r, false, ledger.ErrInvalid, "no line 0", 50_000},
		{"negative amount", news, -1, r, false, ledger.ErrInvalid, "want 0 or more", 50_000},
		{"no reason", news, 1, settle.Review{Actor: "bob"}, false, ledger.ErrInvalid, "a reason is required", 50_000},
		{"no actor", news, 1, settle.Review{Reason: "x"}, false, ledger.ErrInvalid, "an actor is required", 50_000},
		{"removed with 0", news, 0, r, true, nil, "", 350_000},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := e.historyLen(id)
			res, err := s.Credit(e.ctx, id, st.line, st.amount, st.review)
			if st.errIs != nil {
				if !errors.Is(err, st.errIs) || !strings.Contains(err.Error(), st.errHas) {
					t.Fatalf("error = %v, want %v mentioning %q", err, st.errIs, st.errHas)
				}
			} else if err != nil || res.Changed != st.changed {
				t.Fatalf("= %+v, %v; want changed=%v", res, err, st.changed)
			}
			inv := e.invoice(id)
			wantHist := before
			if st.changed {
				wantHist++
			}
			if inv.Total != st.total || len(inv.History) != wantHist {
				t.Fatalf("total %s, %d history entries; want %s, %d", inv.Total, len(inv.History), st.total, wantHist)
			}
			if st.changed {
				last := inv.History[len(inv.History)-1]
				if last.Kind != "credit" || last.Actor != "bob" || last.Line != st.line || last.Credit != st.amount {
					t.Fatalf("history %+v", last)
				}
			}
		})
	}
}

// TestApproveEarlyNeedsACheckedDay: a draft whose day was never checked,
// or whose mismatch nobody reviewed, is refused with ErrNotChecked; a
// mismatched invoice finance released may be approved early.
func TestApproveEarlyNeedsACheckedDay(t *testing.T) {
	e := newEnv(t, rails{})
	s := e.settler(hooks{})
	r := settle.Review{Actor: "carol"}
	day := e.day(0)

	// Created without Close: not checked.
	e.use("op_unchecked", 0, "pub_news", "news.example", "USD", 10_000)
	e.clock.Set(e.closeTime(0))
	if _, _, err := e.l.CreateInvoice(e.ctx, "op_unchecked", day, "USD", "test"); err != nil {
		t.Fatal(err)
	}
	id := ledger.InvoiceID("op_unchecked", day, "USD")
	if _, err := s.ApproveEarly(e.ctx, id, r); !errors.Is(err, settle.ErrNotChecked) || !strings.Contains(err.Error(), "not been checked") {
		t.Fatalf("unchecked: %v", err)
	}

	// A day whose aggregate does not match its stream is held by Close.
	e2 := newEnv(t, rails{})
	e2.use("op_tampered", 0, "pub_news", "news.example", "USD", 10_000, 20_000)
	key := "pc:{op_tampered}:a:" + e2.day(0)
	if err := e2.rdb.HIncrBy(e2.ctx, key, "m|USD", 5).Err(); err != nil {
		t.Fatal(err)
	}
	e2.clock.Set(e2.closeTime(0))
	s2 := e2.settler(hooks{})
	if rep, err := s2.Close(e2.ctx, e2.day(0)); err != nil || rep.Held != 1 {
		t.Fatalf("close: %+v, %v", rep, err)
	}
	id2 := ledger.InvoiceID("op_tampered", e2.day(0), "USD")
	if _, err := s2.ApproveEarly(e2.ctx, id2, r); !errors.Is(err, ledger.ErrTransition) || !strings.Contains(err.Error(), "is held: cannot approve") {
		t.Fatalf("held: %v", err)
	}
	if _, err := s2.Release(e2.ctx, id2, settle.Review{Actor: "carol", Reason: "checked with the publisher"}); err != nil {
		t.Fatal(err)
	}
	res, err := s2.ApproveEarly(e2.ctx, id2, r)
	if err != nil || !res.Changed || res.Invoice.Status != ledger.StatusApproved {
		t.Fatalf("released then approved: %+v, %v", res, err)
	}
}

// TestFinanceActionsWaitForTheSettlerLock: while a settlement run holds the
// lock, an action fails fast with ErrBusy and changes nothing; once the lock
// is free it succeeds, and its fencing token is above the run's, so that run
// (if it outlived its lock) is fenced out of the invoice.
func TestFinanceActionsWaitForTheSettlerLock(t *testing.T) {
	e := newEnv(t, rails{})
	e.cfg.LockWait = 150 * time.Millisecond
	id := e.closedInvoices("busy")["busy"]
	s := e.settler(hooks{})
	runToken, release, err := e.l.AcquireLock(e.ctx, settle.LockName, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Hold(e.ctx, id, settle.Review{Actor: "dave", Reason: "check"})
	if !errors.Is(err, settle.ErrBusy) || !strings.Contains(err.Error(), "the settler is charging right now, try again in a minute") {
		t.Fatalf("error = %v, want ErrBusy", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("waited %s", d)
	}
	if inv := e.invoice(id); inv.Status != ledger.StatusDraft {
		t.Fatalf("status %s", inv.Status)
	}
	release()
	res, err := s.Hold(e.ctx, id, settle.Review{Actor: "dave", Reason: "check"})
	if err != nil || res.Invoice.Token <= runToken {
		t.Fatalf("= %+v, %v; want a token above %d", res, err, runToken)
	}
	err = e.l.Transition(e.ctx, id, ledger.Transition{To: ledger.StatusVoid, Token: runToken, Actor: "stale run"})
	if !errors.Is(err, ledger.ErrFenced) {
		t.Fatalf("a stale run's transition: %v, want ErrFenced", err)
	}
}

// TestFinanceActionsRefuseBadInput: unknown invoices, malformed ids and
// missing reasons are refused before anything is written.
func TestFinanceActionsRefuseBadInput(t *testing.T) {
	e := newEnv(t, rails{})
	s := e.settler(hooks{})
	unknown := ledger.InvoiceID("op_nobody", e.day(0), "USD")
	r := settle.Review{Actor: "erin", Reason: "why not"}
	tests := []struct {
		name string
		err  error
		is   error
		has  string
	}{
		{"unknown invoice", func() error { _, err := s.Hold(e.ctx, unknown, r); return err }(), ledger.ErrNotFound, unknown},
		{"bad id", func() error { _, err := s.Void(e.ctx, "inv_nope", r); return err }(), ledger.ErrInvalid, "invoice id"},
		{"hold without reason", func() error { _, err := s.Hold(e.ctx, unknown, settle.Review{Actor: "erin"}); return err }(), ledger.ErrInvalid, "a reason is required to hold"},
		{"void without reason", func() error { _, err := s.Void(e.ctx, unknown, settle.Review{Actor: "erin"}); return err }(), ledger.ErrInvalid, "a reason is required to void"},
		{"release without actor", func() error { _, err := s.Release(e.ctx, unknown, settle.Review{}); return err }(), ledger.ErrInvalid, "an actor is required"},
		{"credit unknown", func() error { _, err := s.Credit(e.ctx, unknown, 0, 1, r); return err }(), ledger.ErrNotFound, unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.is) || !strings.Contains(tt.err.Error(), tt.has) {
				t.Fatalf("error = %v, want %v mentioning %q", tt.err, tt.is, tt.has)
			}
		})
	}
}
