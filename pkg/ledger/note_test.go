package ledger

import (
	"errors"
	"testing"
)

// noteCases are the suite's cases of write-ahead records.
var noteCases = []suiteCase{
	{"RecordWriteAhead", testRecordWriteAhead},
	{"RecordRefusals", testRecordRefusals},
	{"RecordCheck", testRecordCheck},
}

// testRecordWriteAhead: a write-ahead record is stored on a charging invoice
// without changing its status, once per attempt; the same record again is a
// no-op, another one for the same attempt a conflict; the next attempt may
// record its own.
func testRecordWriteAhead(t *testing.T, e *env) {
	inv := e.invoice("acme", 1_230_000)
	e.move(inv.ID, Transition{To: StatusApproved, Token: 2})
	e.move(inv.ID, Transition{To: StatusCharging, Token: 2, Attempt: &Attempt{Number: 1, Rail: "evm", Outcome: "started"}})
	wa := Note{Token: 3, Set: Settlement{Rail: "evm", TxHash: "0xaaa", RawTx: "0x02f8aa", Nonce: 0},
		Attempt: &Attempt{Number: 1, Rail: "evm", Reference: "0xaaa", Amount: 1_230_000, Outcome: "signed"}}
	for i := 0; i < 2; i++ { // the second call is a no-op
		if err := e.l.Record(e.ctx, inv.ID, wa); err != nil {
			t.Fatalf("Record #%d: %v", i+1, err)
		}
	}
	got := e.get(inv.ID)
	if got.Status != StatusCharging || got.RawTx != "0x02f8aa" || got.Nonce != 0 || got.TxHash != "0xaaa" ||
		got.WriteAhead != 1 || got.Token != 3 || got.Rail != "evm" {
		t.Fatalf("after Record: %+v", got)
	}
	if len(got.Attempts) != 2 || got.Attempts[1].Outcome != "signed" || got.Attempts[1].Number != 1 || got.Attempts[1].Reference != "0xaaa" {
		t.Fatalf("attempts = %+v", got.Attempts)
	}
	if len(got.History) != 3 {
		t.Errorf("Record changed the history: %+v", got.History)
	}

	other := wa
	other.Set.RawTx, other.Set.TxHash, other.Set.Nonce = "0x02f8bb", "0xbbb", 1
	wantErr(t, e.l.Record(e.ctx, inv.ID, other), ErrConflict)
	if after := e.get(inv.ID); after.RawTx != "0x02f8aa" || len(after.Attempts) != 2 {
		t.Fatalf("a conflicting record changed the invoice: %+v", after)
	}
	// The token a note carried fences older holders out of transitions.
	wantErr(t, e.l.Transition(e.ctx, inv.ID, Transition{To: StatusFailed, Token: 2, Actor: "stale"}), ErrFenced)

	// After a definitive failure, the next attempt records its own transaction.
	e.move(inv.ID, Transition{To: StatusFailed, Token: 3, Set: Settlement{Error: "dropped"}})
	e.move(inv.ID, Transition{To: StatusCharging, Token: 3})
	other.Attempt = &Attempt{Number: 2, Rail: "evm", Reference: "0xbbb", Outcome: "signed"}
	if err := e.l.Record(e.ctx, inv.ID, other); err != nil {
		t.Fatalf("Record for attempt 2: %v", err)
	}
	if got := e.get(inv.ID); got.RawTx != "0x02f8bb" || got.Nonce != 1 || got.WriteAhead != 2 || got.TxHash != "0xbbb" {
		t.Fatalf("after attempt 2's record: %+v", got)
	}
	// A plain note (no write-ahead) only appends to the attempts.
	if err := e.l.Record(e.ctx, inv.ID, Note{Token: 3, Attempt: &Attempt{Number: 2, Outcome: "rebroadcast", Reference: "0xbbb"}}); err != nil {
		t.Fatal(err)
	}
	if got := e.get(inv.ID); len(got.Attempts) != 4 || got.Attempts[3].Outcome != "rebroadcast" || got.WriteAhead != 2 {
		t.Fatalf("after a plain note: %+v", got)
	}
}

func testRecordRefusals(t *testing.T, e *env) {
	inv := e.invoice("acme", 1_000)
	ok := Note{Token: 1, Set: Settlement{RawTx: "0x01", TxHash: "0x1"}, Attempt: &Attempt{Number: 1}}
	var te *TransitionError
	if err := e.l.Record(e.ctx, inv.ID, ok); !errors.As(err, &te) || te.Current != StatusDraft {
		t.Fatalf("Record on a draft: %v, want *TransitionError naming draft", err)
	}
	e.move(inv.ID, Transition{To: StatusApproved, Token: 5})
	e.move(inv.ID, Transition{To: StatusCharging, Token: 5})
	tests := []struct {
		name string
		n    Note
		err  error
	}{
		{"stale token", ok, ErrFenced},
		{"token 0", Note{Attempt: ok.Attempt, Set: ok.Set}, ErrInvalid},
		{"charged", Note{Token: 5, Set: Settlement{Charged: 1}}, ErrInvalid},
		{"carried out", Note{Token: 5, Set: Settlement{CarriedOut: 1}}, ErrInvalid},
		{"write-ahead without attempt", Note{Token: 5, Set: Settlement{RawTx: "0x01"}}, ErrInvalid},
		{"write-ahead with attempt 0", Note{Token: 5, Set: Settlement{RawTx: "0x01"}, Attempt: &Attempt{}}, ErrInvalid},
		{"negative nonce", Note{Token: 5, Set: Settlement{RawTx: "0x01", Nonce: -1}, Attempt: &Attempt{Number: 1}}, ErrInvalid},
		{"control character", Note{Token: 5, Set: Settlement{RawTx: "0x\n"}, Attempt: &Attempt{Number: 1}}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, e.l.Record(e.ctx, inv.ID, tt.n), tt.err)
		})
	}
	if got := e.get(inv.ID); got.RawTx != "" || got.WriteAhead != 0 || len(got.Attempts) != 0 {
		t.Fatalf("refused notes changed the invoice: %+v", got)
	}
	wantErr(t, e.l.Record(e.ctx, InvoiceID("nobody", e.today(), "USD"), Note{Token: 1}), ErrNotFound)
}

func testRecordCheck(t *testing.T, e *env) {
	inv := e.invoice("acme", 1_000)
	ok, err := e.l.RecordCheck(e.ctx, inv.ID, Check{Token: 2, OK: false, Actor: "settler", Reason: "m|USD aggregate=2 stream=1"})
	if err != nil || ok {
		t.Fatalf("RecordCheck = %v, %v", ok, err)
	}
	// The first result wins.
	if ok, err := e.l.RecordCheck(e.ctx, inv.ID, Check{Token: 2, OK: true, Actor: "settler"}); err != nil || ok {
		t.Fatalf("second RecordCheck = %v, %v; want the stored mismatch", ok, err)
	}
	got := e.get(inv.ID)
	last := got.History[len(got.History)-1]
	if got.Check != CheckMismatch || got.Checked.IsZero() || got.Status != StatusDraft || len(got.History) != 2 ||
		last.Kind != "check" || last.Reason != "m|USD aggregate=2 stream=1" || last.Token != 2 {
		t.Fatalf("after RecordCheck: %+v", got)
	}

	held := e.invoice("beta", 1_000)
	e.move(held.ID, Transition{To: StatusHeld, Token: 4})
	if _, err := e.l.RecordCheck(e.ctx, held.ID, Check{Token: 3, OK: true, Actor: "settler"}); !errors.Is(err, ErrFenced) {
		t.Errorf("stale check: %v, want ErrFenced", err)
	}
	if ok, err := e.l.RecordCheck(e.ctx, held.ID, Check{Token: 4, OK: true, Actor: "settler"}); err != nil || !ok {
		t.Errorf("check of a held invoice = %v, %v", ok, err)
	}
	approved := e.invoice("gamma", 1_000)
	e.move(approved.ID, Transition{To: StatusApproved})
	var te *TransitionError
	if _, err := e.l.RecordCheck(e.ctx, approved.ID, Check{Token: 1, OK: true, Actor: "settler"}); !errors.As(err, &te) {
		t.Errorf("check of an approved invoice: %v, want *TransitionError", err)
	}
	if _, err := e.l.RecordCheck(e.ctx, inv.ID, Check{Token: 2, Actor: ""}); !errors.Is(err, ErrInvalid) {
		t.Errorf("check without actor: %v, want ErrInvalid", err)
	}
}
