package ledger

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// invoiceCases are the suite's cases of invoices and their transitions.
var invoiceCases = []suiteCase{
	{"CreateInvoiceIsIdempotent", testCreateInvoiceIsIdempotent},
	{"EveryTransition", testEveryTransition},
	{"TransitionFencing", testTransitionFencing},
	{"TransitionHistoryAndAttempts", testTransitionHistoryAndAttempts},
	{"FinalAmountsMustAddUp", testFinalAmountsMustAddUp},
	{"CreditLine", testCreditLine},
	{"CarryOverAcrossInvoices", testCarryOverAcrossInvoices},
	{"InvoicesOfADay", testInvoicesOfADay},
}

func testCreateInvoiceIsIdempotent(t *testing.T, e *env) {
	day := e.today()
	for _, p := range []money.Micros{100, 200, 300} {
		c := e.commitment("acme", p)
		if p == 300 {
			c.Publisher, c.Site = "pub-0", "a.example"
		}
		e.mustAppend(c)
	}
	inv, created, err := e.l.CreateInvoice(e.ctx, "acme", day, "USD", "settler")
	if err != nil || !created {
		t.Fatalf("CreateInvoice = %v, %v", created, err)
	}
	want := &Invoice{
		ID: "inv_" + day + "_acme_USD", Account: "acme", Day: day, Currency: "USD",
		Status: StatusDraft, Created: e.clock.Now().Truncate(time.Millisecond), Updated: e.clock.Now().Truncate(time.Millisecond),
		Lines: []Line{
			{Publisher: "pub-0", Site: "a.example", Count: 1, Amount: 300},
			{Publisher: "pub-1", Site: "example.com", Count: 2, Amount: 300},
		},
		Total: 600,
	}
	got := *inv
	got.History, got.Attempts = nil, nil
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("invoice:\n got %+v\nwant %+v", &got, want)
	}
	if len(inv.History) != 1 || inv.History[0].Kind != "create" || inv.History[0].To != StatusDraft || inv.History[0].Actor != "settler" {
		t.Errorf("history after creation = %+v", inv.History)
	}
	// The day is closed; a second call returns the same invoice, unchanged.
	invoicedAt := e.clock.Now()
	e.clock.Advance(time.Hour)
	again, created, err := e.l.CreateInvoice(e.ctx, "acme", day, "USD", "settler-2")
	if err != nil || created || !reflect.DeepEqual(again, inv) {
		t.Errorf("second CreateInvoice = %+v, %v, %v", again, created, err)
	}
	// A late commitment received on the invoiced day (an hour on, the
	// clock may be in the next day: the test must not depend on the hour).
	late := e.commitment("acme", 1)
	late.Received = invoicedAt
	if _, err := e.l.Append(e.ctx, late, Limits{}); !errors.Is(err, ErrDayClosed) {
		t.Errorf("append after invoicing: %v, want ErrDayClosed", err)
	}
	if _, _, err := e.l.CreateInvoice(e.ctx, "acme", day, "EUR", "settler"); !errors.Is(err, ErrNotFound) {
		t.Errorf("invoice without usage: %v, want ErrNotFound", err)
	}
	if _, err := e.l.Invoice(e.ctx, InvoiceID("acme", day, "EUR")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Invoice(missing): %v, want ErrNotFound", err)
	}
}

// pathTo lists the transitions that bring a fresh draft invoice to a status.
var pathTo = map[Status][]Status{
	StatusDraft:    nil,
	StatusHeld:     {StatusHeld},
	StatusApproved: {StatusApproved},
	StatusVoid:     {StatusVoid},
	StatusCharging: {StatusApproved, StatusCharging},
	StatusPending:  {StatusApproved, StatusCharging, StatusPending},
	StatusFailed:   {StatusApproved, StatusCharging, StatusFailed},
	StatusPaid:     {StatusApproved, StatusCharging, StatusPaid},
	StatusCarried:  {StatusApproved, StatusCharging, StatusCarried},
}

// settleFields returns the Settlement that makes a move to status valid.
func settleFields(to Status, total money.Micros) Settlement {
	switch to {
	case StatusPaid:
		return Settlement{Rail: "stripe", PaymentIntent: "pi_1", Charged: total}
	case StatusCarried:
		return Settlement{CarriedOut: total}
	}
	return Settlement{}
}

// testEveryTransition tries every (from, to) pair: the allowed ones, written
// here from the specification independently of the code's table, succeed;
// every other one fails with a *TransitionError naming the current status
// and changes nothing.
func testEveryTransition(t *testing.T, e *env) {
	allowed := map[[2]Status]bool{}
	for _, p := range [][2]Status{
		{"draft", "approved"}, {"draft", "held"}, {"draft", "void"},
		{"approved", "charging"}, {"approved", "held"}, {"approved", "void"},
		{"charging", "paid"}, {"charging", "pending"}, {"charging", "failed"}, {"charging", "carried"},
		{"pending", "paid"}, {"pending", "failed"},
		{"failed", "charging"}, {"failed", "held"}, {"failed", "void"},
		{"held", "draft"}, {"held", "void"},
	} {
		allowed[p] = true
	}
	n := 0
	for _, from := range statuses {
		for _, to := range statuses {
			n++
			account := fmt.Sprintf("tr-%d", n)
			t.Run(fmt.Sprintf("%s→%s", from, to), func(t *testing.T) {
				inv := e.invoice(account, 250_000)
				for _, s := range pathTo[from] {
					e.move(inv.ID, Transition{To: s, Set: settleFields(s, inv.Total)})
				}
				before := e.get(inv.ID)
				err := e.l.Transition(e.ctx, inv.ID, Transition{To: to, Token: 1, Actor: "test", Set: settleFields(to, inv.Total)})
				after := e.get(inv.ID)
				if allowed[[2]Status{from, to}] {
					if err != nil {
						t.Fatalf("allowed transition refused: %v", err)
					}
					if after.Status != to || len(after.History) != len(before.History)+1 {
						t.Fatalf("after transition: status %s, %d history entries (before %d)", after.Status, len(after.History), len(before.History))
					}
					return
				}
				var te *TransitionError
				if !errors.As(err, &te) || !errors.Is(err, ErrTransition) || te.Current != from || te.To != to {
					t.Fatalf("forbidden transition: error %v, want *TransitionError{Current: %s}", err, from)
				}
				if !reflect.DeepEqual(before, after) {
					t.Fatalf("forbidden transition changed the invoice:\n%+v\n%+v", before, after)
				}
			})
			if CanTransition(from, to) != allowed[[2]Status{from, to}] {
				t.Errorf("CanTransition(%s, %s) = %v", from, to, !allowed[[2]Status{from, to}])
			}
		}
	}
	for _, s := range statuses {
		if s.Final() != (len(transitions[s]) == 0) {
			t.Errorf("%s: Final() = %v but has %d transitions", s, s.Final(), len(transitions[s]))
		}
	}
	err := e.l.Transition(e.ctx, InvoiceID("nobody", e.today(), "USD"), Transition{To: StatusApproved, Token: 1, Actor: "x"})
	wantErr(t, err, ErrNotFound)
	err = e.l.Transition(e.ctx, "inv_bad", Transition{To: StatusApproved, Token: 1, Actor: "x"})
	wantErr(t, err, ErrInvalid)
	err = e.l.Transition(e.ctx, InvoiceID("nobody", e.today(), "USD"), Transition{To: "settled", Token: 1, Actor: "x"})
	wantErr(t, err, ErrInvalid)
}

func testTransitionFencing(t *testing.T, e *env) {
	inv := e.invoice("acme", 1_000_000)
	tok1, release1, err := e.l.AcquireLock(e.ctx, "settle", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.l.AcquireLock(e.ctx, "settle", time.Minute); !errors.Is(err, ErrLocked) {
		t.Fatalf("second AcquireLock: %v, want ErrLocked", err)
	}
	release1()
	release1() // harmless
	tok2, release2, err := e.l.AcquireLock(e.ctx, "settle", time.Minute)
	if err != nil || tok2 <= tok1 {
		t.Fatalf("AcquireLock after release = %d, %v; want a token above %d", tok2, err, tok1)
	}
	defer release2()

	// The new holder acts; the old one is fenced out.
	e.move(inv.ID, Transition{To: StatusApproved, Token: tok2})
	err = e.l.Transition(e.ctx, inv.ID, Transition{To: StatusCharging, Token: tok1, Actor: "stale"})
	wantErr(t, err, ErrFenced)
	if got := e.get(inv.ID); got.Status != StatusApproved || got.Token != tok2 {
		t.Fatalf("after fenced call: status %s token %d", got.Status, got.Token)
	}
	e.move(inv.ID, Transition{To: StatusCharging, Token: tok2}) // same token again is fine
	e.move(inv.ID, Transition{To: StatusFailed, Token: tok2 + 5})
	err = e.l.Transition(e.ctx, inv.ID, Transition{To: StatusCharging, Token: tok2, Actor: "stale"})
	wantErr(t, err, ErrFenced)
	if err := e.l.Transition(e.ctx, inv.ID, Transition{To: StatusCharging, Token: 0, Actor: "x"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("token 0: %v, want ErrInvalid", err)
	}

	// An expired lock's release does not free the next holder's lock.
	_, stale, err := e.l.AcquireLock(e.ctx, "short", 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	waitExpired(t, e, e.l.lockKey("short"))
	tok4, release4, err := e.l.AcquireLock(e.ctx, "short", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer release4()
	stale()
	if _, _, err := e.l.AcquireLock(e.ctx, "short", time.Minute); !errors.Is(err, ErrLocked) {
		t.Errorf("stale release freed the lock of token %d: %v", tok4, err)
	}
	if _, _, err := e.l.AcquireLock(e.ctx, "bad{name}", time.Minute); !errors.Is(err, ErrInvalid) {
		t.Errorf("lock name with braces: %v, want ErrInvalid", err)
	}
}

func testTransitionHistoryAndAttempts(t *testing.T, e *env) {
	inv := e.invoice("acme", 1_000_000, 234_567)
	steps := []Transition{
		{To: StatusHeld, Token: 3, Actor: "alice", Reason: "unusual volume"},
		{To: StatusDraft, Token: 3, Actor: "alice", Reason: "checked"},
		{To: StatusApproved, Token: 4, Actor: "settler", Reason: "review window over"},
		{To: StatusCharging, Token: 4, Actor: "settler", Set: Settlement{Rail: "stripe", PaymentIntent: "pi_123"},
			Attempt: &Attempt{Rail: "stripe", Reference: "pi_123", Amount: 1_230_000, Outcome: "requires_action"}},
		{To: StatusPending, Token: 4, Actor: "settler", Reason: "requires_action"},
		{To: StatusFailed, Token: 5, Actor: "settler", Set: Settlement{Error: "card_declined"},
			Attempt: &Attempt{Rail: "stripe", Reference: "pi_123", Amount: 1_230_000, Outcome: "failed", Error: "card_declined"}},
		{To: StatusCharging, Token: 6, Actor: "settler", Reason: "retry", Set: Settlement{Rail: "evm"}},
		{To: StatusPaid, Token: 6, Actor: "settler",
			Set:     Settlement{TxHash: "0xabc", Block: 42, Charged: 1_230_000, CarriedOut: 4_567},
			Attempt: &Attempt{Rail: "evm", Reference: "0xabc", Amount: 1_230_000, Outcome: "confirmed"}},
	}
	from := StatusDraft
	for _, s := range steps {
		e.clock.Advance(time.Second)
		e.move(inv.ID, s)
	}
	got := e.get(inv.ID)
	if len(got.History) != 1+len(steps) {
		t.Fatalf("history has %d entries, want %d", len(got.History), 1+len(steps))
	}
	start := e.clock.Now().Add(-time.Duration(len(steps)) * time.Second)
	for i, s := range steps {
		h := got.History[i+1]
		want := Event{ID: h.ID, Kind: "transition", From: from, To: s.To, At: start.Add(time.Duration(i+1) * time.Second).Truncate(time.Millisecond),
			Actor: s.Actor, Reason: s.Reason, Token: s.Token, Line: -1}
		if h != want {
			t.Errorf("history[%d] = %+v, want %+v", i+1, h, want)
		}
		from = s.To
	}
	if len(got.Attempts) != 3 || got.Attempts[1].Error != "card_declined" || got.Attempts[2].Reference != "0xabc" ||
		got.Attempts[0].Amount != 1_230_000 || got.Attempts[0].Outcome != "requires_action" {
		t.Errorf("attempts = %+v", got.Attempts)
	}
	// Paid: the failed attempt's error stays in the attempts, not on the invoice.
	if got.Rail != "evm" || got.PaymentIntent != "pi_123" || got.TxHash != "0xabc" || got.Block != 42 ||
		got.Error != "" || got.Charged != 1_230_000 || got.CarriedOut != 4_567 || got.Token != 6 {
		t.Errorf("settlement fields = %+v", got)
	}
	// Paid is final.
	err := e.l.Transition(e.ctx, inv.ID, Transition{To: StatusVoid, Token: 7, Actor: "alice"})
	var te *TransitionError
	if !errors.As(err, &te) || te.Current != StatusPaid {
		t.Errorf("void after paid: %v", err)
	}
}

func testFinalAmountsMustAddUp(t *testing.T, e *env) {
	inv := e.invoice("acme", 700_000)
	e.move(inv.ID, Transition{To: StatusApproved})
	e.move(inv.ID, Transition{To: StatusCharging})
	tests := []struct {
		to  Status
		set Settlement
	}{
		{StatusPaid, Settlement{Charged: 690_000}},
		{StatusPaid, Settlement{Charged: 700_000, CarriedOut: 1}},
		{StatusCarried, Settlement{CarriedOut: 600_000}},
		{StatusCarried, Settlement{Charged: 100_000, CarriedOut: 600_000}},
	}
	for _, tt := range tests {
		err := e.l.Transition(e.ctx, inv.ID, Transition{To: tt.to, Token: 1, Actor: "x", Set: tt.set})
		wantErr(t, err, ErrAmounts)
	}
	if got := e.get(inv.ID); got.Status != StatusCharging || got.Charged != 0 {
		t.Fatalf("refused settlements changed the invoice: %+v", got)
	}
	if c, _ := e.l.Carry(e.ctx, "acme", "USD"); c != 0 {
		t.Errorf("refused settlements moved carry-over: %d", c)
	}
}

func testCreditLine(t *testing.T, e *env) {
	for _, site := range []string{"a.example", "b.example"} {
		c := e.commitment("acme", 400_000)
		c.Site = site
		e.mustAppend(c)
	}
	inv, _, err := e.l.CreateInvoice(e.ctx, "acme", e.today(), "USD", "settler")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		line   int
		amount money.Micros
		err    error
		total  money.Micros
	}{
		{"credit part of a line", 0, 150_000, nil, 650_000},
		{"credit replaces, not adds", 0, 100_000, nil, 700_000},
		{"whole line", 1, 400_000, nil, 300_000},
		{"more than the line", 1, 400_001, ErrInvalid, 300_000},
		{"no such line", 2, 1, ErrInvalid, 300_000},
		{"negative", 0, -1, ErrInvalid, 300_000},
		{"remove a credit", 1, 0, nil, 700_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.l.CreditLine(e.ctx, inv.ID, tt.line, tt.amount, "alice", tt.name)
			if tt.err == nil && err != nil {
				t.Fatalf("CreditLine: %v", err)
			}
			if tt.err != nil {
				wantErr(t, err, tt.err)
			}
			if got := e.get(inv.ID); got.Total != tt.total {
				t.Errorf("total = %d, want %d", got.Total, tt.total)
			}
		})
	}
	got := e.get(inv.ID)
	credits := 0
	for _, h := range got.History {
		if h.Kind == "credit" {
			credits++
		}
	}
	if credits != 4 || got.History[1].Line != 0 || got.History[1].Credit != 150_000 || got.History[1].Actor != "alice" {
		t.Errorf("credit history = %+v", got.History)
	}
	// Held invoices can be credited; approved ones cannot.
	e.move(inv.ID, Transition{To: StatusHeld})
	if err := e.l.CreditLine(e.ctx, inv.ID, 1, 1, "alice", "while held"); err != nil {
		t.Errorf("credit while held: %v", err)
	}
	e.move(inv.ID, Transition{To: StatusDraft})
	e.move(inv.ID, Transition{To: StatusApproved})
	err = e.l.CreditLine(e.ctx, inv.ID, 1, 2, "alice", "too late")
	var te *TransitionError
	if !errors.As(err, &te) || te.Current != StatusApproved {
		t.Errorf("credit while approved: %v, want *TransitionError naming approved", err)
	}
}

// testCarryOverAcrossInvoices: a day below the rail's minimum is carried to
// the next invoice; a sub-cent remainder is carried; voiding an invoice gives
// its carried-in back. Every movement is logged, and CreateInvoice consumes
// the balance once.
func testCarryOverAcrossInvoices(t *testing.T, e *env) {
	balance := func(want money.Micros) {
		t.Helper()
		if got, err := e.l.Carry(e.ctx, "acme", "USD"); err != nil || got != want {
			t.Fatalf("carry balance = %d, %v; want %d", got, err, want)
		}
	}
	// Day 1: 0.30 USD, below the 0.50 minimum: carried whole.
	d1 := e.invoice("acme", 300_000)
	e.move(d1.ID, Transition{To: StatusApproved})
	e.move(d1.ID, Transition{To: StatusCharging})
	e.move(d1.ID, Transition{To: StatusCarried, Set: Settlement{CarriedOut: 300_000}})
	balance(300_000)

	// Day 2: 0.456789 USD of usage + 0.30 carried in; charged in cents, the
	// sub-cent remainder carried.
	e.clock.Advance(24 * time.Hour)
	d2 := e.invoice("acme", 456_789)
	if d2.CarriedIn != 300_000 || d2.Total != 756_789 {
		t.Fatalf("day 2 invoice carried in %d, total %d", d2.CarriedIn, d2.Total)
	}
	balance(0)
	if again, created, err := e.l.CreateInvoice(e.ctx, "acme", d2.Day, "USD", "settler"); err != nil || created || again.CarriedIn != 300_000 {
		t.Fatalf("second CreateInvoice = %+v, %v, %v", again, created, err)
	}
	balance(0)
	e.move(d2.ID, Transition{To: StatusApproved})
	e.move(d2.ID, Transition{To: StatusCharging})
	cents, rest := d2.Total.Cents()
	e.move(d2.ID, Transition{To: StatusPaid, Set: Settlement{Charged: money.FromCents(cents), CarriedOut: rest}})
	balance(6_789)

	// Day 3: consumed, then voided: the carried-in returns.
	e.clock.Advance(24 * time.Hour)
	d3 := e.invoice("acme", 10_000)
	if d3.CarriedIn != 6_789 {
		t.Fatalf("day 3 carried in %d", d3.CarriedIn)
	}
	balance(0)
	e.move(d3.ID, Transition{To: StatusVoid, Reason: "disputed"})
	balance(6_789)

	log, err := e.l.CarryLog(e.ctx, "acme", "USD")
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		inv            string
		kind           string
		delta, balance money.Micros
	}
	var got []entry
	for _, l := range log {
		got = append(got, entry{l.Invoice, l.Kind, l.Delta, l.Balance})
	}
	want := []entry{
		{d1.ID, "carried", 300_000, 300_000},
		{d2.ID, "consumed", -300_000, 0},
		{d2.ID, "carried", 6_789, 6_789},
		{d3.ID, "consumed", -6_789, 0},
		{d3.ID, "returned", 6_789, 6_789},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("carry log:\n got %+v\nwant %+v", got, want)
	}
	// Balances are per currency.
	if c, err := e.l.Carry(e.ctx, "acme", "EUR"); err != nil || c != 0 {
		t.Errorf("EUR balance = %d, %v", c, err)
	}
}

func testInvoicesOfADay(t *testing.T, e *env) {
	day := e.today()
	var ids []string
	for _, a := range []string{"b-crawler", "a-crawler", "c-crawler"} {
		ids = append(ids, e.invoice(a, 1000).ID)
	}
	// An index entry whose creation never ran is skipped.
	if err := e.rdb.SAdd(e.ctx, e.l.dayInvoicesKey(day), InvoiceID("ghost", day, "USD")).Err(); err != nil {
		t.Fatal(err)
	}
	list, err := e.l.Invoices(e.ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, inv := range list {
		got = append(got, inv.ID)
		if len(inv.Lines) != 1 || inv.Status != StatusDraft {
			t.Errorf("%s: %+v", inv.ID, inv)
		}
	}
	want := []string{ids[1], ids[0], ids[2]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Invoices = %v, want %v", got, want)
	}
	if list, err := e.l.Invoices(e.ctx, "2001-01-01"); err != nil || len(list) != 0 {
		t.Errorf("Invoices of an empty day = %v, %v", list, err)
	}
}

// waitExpired waits until key is gone (its TTL ran out).
func waitExpired(t *testing.T, e *env, key string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if n, err := e.rdb.Exists(e.ctx, key).Result(); err == nil && n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s did not expire", key)
}
