package settle_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// TestCloseManyCrawlersAndPublishers closes a day of many crawlers on many
// publishers' sites in two currencies: every invoice's lines and total equal
// the commitments, line by line, and closing again creates nothing.
func TestCloseManyCrawlersAndPublishers(t *testing.T) {
	e := newEnv(t, rails{})
	rng := rand.New(rand.NewPCG(1, 2))
	type key struct{ account, cur, pub, site string }
	want := map[key]ledger.Total{}
	totals := settle.Totals{}
	var commitments int64
	const crawlers = 30
	for c := 0; c < crawlers; c++ {
		account := fmt.Sprintf("op_crawler%02d", c)
		curs := []string{"USD"}
		if c%3 == 0 {
			curs = append(curs, "USDC")
		}
		for _, cur := range curs {
			for p := 0; p < 1+rng.IntN(5); p++ {
				pub := fmt.Sprintf("pub-%d", p)
				site := fmt.Sprintf("site%d.example", rng.IntN(3))
				prices := make([]money.Micros, 1+rng.IntN(6))
				for i := range prices {
					prices[i] = money.Micros(1 + rng.IntN(50_000))
				}
				e.use(account, 0, pub, site, cur, prices...)
				k := key{account, cur, pub, site}
				tot := want[k]
				for _, p := range prices {
					tot.Count++
					tot.Amount += p
					totals[cur] += p
				}
				commitments += int64(len(prices))
				want[k] = tot
			}
		}
	}
	// Another day's usage is not part of day 0.
	e.use("op_crawler00", 1, "pub-0", "site0.example", "USD", 999)

	s := e.settler(hooks{})
	day := e.day(0)
	e.clock.Set(e.closeTime(0))
	rep, err := s.Close(e.ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	perInvoice := map[[2]string]bool{}
	for k := range want {
		perInvoice[[2]string{k.account, k.cur}] = true
	}
	wantInvoices := len(perInvoice)
	if rep.Accounts != crawlers || rep.Created != wantInvoices || rep.Existing != 0 || rep.Held != 0 ||
		rep.Commitments != commitments || !equalTotals(rep.Totals, totals) {
		t.Fatalf("report = %+v; want %d accounts, %d invoices, %d commitments, totals %v", rep, crawlers, wantInvoices, commitments, totals)
	}
	got := map[key]ledger.Total{}
	invs := e.invoices(day)
	if len(invs) != wantInvoices {
		t.Fatalf("%d invoices, want %d", len(invs), wantInvoices)
	}
	for _, inv := range invs {
		var sum money.Micros
		for _, l := range inv.Lines {
			got[key{inv.Account, inv.Currency, l.Publisher, l.Site}] = ledger.Total{Count: l.Count, Amount: l.Amount}
			sum += l.Amount
		}
		if inv.Total != sum || inv.Status != ledger.StatusDraft || inv.Check != ledger.CheckOK || inv.ID != ledger.InvoiceID(inv.Account, day, inv.Currency) {
			t.Errorf("%s: total %s, lines sum %s, status %s, check %q", inv.ID, inv.Total, sum, inv.Status, inv.Check)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d invoice lines, want %d", len(got), len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("line %v = %+v, want %+v", k, got[k], w)
		}
	}

	// Closing twice changes nothing.
	e.clock.Advance(time.Hour)
	again, err := s.Close(e.ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	if again.Created != 0 || again.Existing != wantInvoices || !equalTotals(again.Totals, totals) {
		t.Fatalf("second Close = %+v", again)
	}
	if n := len(e.invoices(day)); n != wantInvoices {
		t.Fatalf("second Close made %d invoices, want %d", n, wantInvoices)
	}
	for _, inv := range e.invoices(day) {
		if len(inv.History) != 2 { // create, check
			t.Errorf("%s history after two closes: %+v", inv.ID, inv.History)
		}
	}
}

func equalTotals(a, b settle.Totals) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestCloseNotBeforeGrace: a day closes only once it ended and its grace
// passed; commitments until then are accepted.
func TestCloseNotBeforeGrace(t *testing.T) {
	e := newEnv(t, rails{})
	e.use("op_a", 0, "pub", "a.example", "USD", 1000)
	s := e.settler(hooks{})
	end := e.base.AddDate(0, 0, 1)
	tests := []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"during the day", e.base.Add(23 * time.Hour), false},
		{"at midnight", end, false},
		{"inside the grace", end.Add(settle.DefaultGrace - time.Second), false},
		{"grace over", end.Add(settle.DefaultGrace), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Set(tt.now)
			_, err := s.Close(e.ctx, e.day(0))
			if tt.ok != (err == nil) {
				t.Fatalf("Close at %s: %v", tt.now, err)
			}
			if !tt.ok {
				wantErr(t, err, settle.ErrTooEarly)
			}
		})
	}
	if _, err := s.Close(e.ctx, "2026-13-01"); err == nil {
		t.Error("Close of a malformed day succeeded")
	}
}

// TestCloseHoldsAMismatch: a crawler-day whose aggregate differs from its
// stream is held with the differences in its history, never approved on
// its own; once finance releases it, it is approved and charged.
func TestCloseHoldsAMismatch(t *testing.T) {
	e := newEnv(t, rails{})
	e.use("op_bad", 0, "pub", "a.example", "USD", 300_000, 300_000)
	e.use("op_good", 0, "pub", "a.example", "USD", 700_000)
	// Corrupt the aggregate behind the ledger's back.
	if err := e.rdb.HIncrBy(e.ctx, "pc:{op_bad}:a:"+e.day(0), "m|USD|pub|a.example", 5).Err(); err != nil {
		t.Fatal(err)
	}
	s := e.settler(hooks{})
	e.clock.Set(e.closeTime(0))
	rep, err := s.Close(e.ctx, e.day(0))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Held != 1 || len(rep.Mismatches) != 1 || !strings.Contains(rep.Mismatches[0], "m|USD|pub|a.example aggregate=600005 stream=600000") {
		t.Fatalf("report = %+v", rep)
	}
	bad := e.invoice(ledger.InvoiceID("op_bad", e.day(0), "USD"))
	last := bad.History[len(bad.History)-1]
	if bad.Status != ledger.StatusHeld || bad.Check != ledger.CheckMismatch || !strings.Contains(last.Reason, "aggregate=600005 stream=600000") {
		t.Fatalf("mismatched invoice: %s, check %q, last event %+v", bad.Status, bad.Check, last)
	}
	// Closing again does not hold it twice; approval skips it.
	if rep, err := s.Close(e.ctx, e.day(0)); err != nil || rep.Held != 0 {
		t.Fatalf("second Close = %+v, %v", rep, err)
	}
	ap, err := s.Approve(e.ctx, e.day(0))
	if err != nil || ap.Approved != 1 {
		t.Fatalf("Approve = %+v, %v", ap, err)
	}
	// Finance reviews and releases it (under the settlers' lock, like any
	// invoice change); the next approval takes it and it is not held again.
	token, release, err := e.l.AcquireLock(e.ctx, settle.LockName, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	err = e.l.Transition(e.ctx, bad.ID, ledger.Transition{To: ledger.StatusDraft, Token: token, Actor: "alice", Reason: "checked by hand"})
	release()
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Close(e.ctx, e.day(0)); err != nil || rep.Held != 0 {
		t.Fatalf("Close after the release = %+v, %v", rep, err)
	}
	if ap, err := s.Approve(e.ctx, e.day(0)); err != nil || ap.Approved != 1 {
		t.Fatalf("Approve after the release = %+v, %v", ap, err)
	}
}

// TestCloseFinishesAnInterruptedCheck: an invoice created by a Close that
// crashed before its check is checked (and held if need be) by the next
// Close, and not approved before.
func TestCloseFinishesAnInterruptedCheck(t *testing.T) {
	e := newEnv(t, rails{})
	e.use("op_a", 0, "pub", "a.example", "USD", 100_000)
	e.use("op_b", 0, "pub", "a.example", "USD", 100_000)
	if err := e.rdb.HIncrBy(e.ctx, "pc:{op_b}:a:"+e.day(0), "n|USD", 1).Err(); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(e.closeTime(0))
	for _, a := range []string{"op_a", "op_b"} { // what the crashed Close did
		if _, _, err := e.l.CreateInvoice(e.ctx, a, e.day(0), "USD", "settler"); err != nil {
			t.Fatal(err)
		}
	}
	s := e.settler(hooks{})
	ap, err := s.Approve(e.ctx, e.day(0))
	if err != nil || ap.Approved != 0 || ap.Unchecked != 2 {
		t.Fatalf("Approve before the check = %+v, %v", ap, err)
	}
	rep, err := s.Close(e.ctx, e.day(0))
	if err != nil || rep.Created != 0 || rep.Existing != 2 || rep.Held != 1 {
		t.Fatalf("Close = %+v, %v", rep, err)
	}
	if a := e.invoice(ledger.InvoiceID("op_a", e.day(0), "USD")); a.Check != ledger.CheckOK || a.Status != ledger.StatusDraft {
		t.Errorf("op_a: %s %q", a.Status, a.Check)
	}
	if b := e.invoice(ledger.InvoiceID("op_b", e.day(0), "USD")); b.Check != ledger.CheckMismatch || b.Status != ledger.StatusHeld {
		t.Errorf("op_b: %s %q", b.Status, b.Check)
	}
}

// TestReviewWindow: drafts wait for the review window, counted from their
// creation; a window of 0 approves them at once.
func TestReviewWindow(t *testing.T) {
	tests := []struct {
		window time.Duration
		checks []struct {
			after    time.Duration
			approved int
		}
	}{
		{24 * time.Hour, []struct {
			after    time.Duration
			approved int
		}{{0, 0}, {23 * time.Hour, 0}, {24 * time.Hour, 2}}},
		{0, []struct {
			after    time.Duration
			approved int
		}{{0, 2}}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.window), func(t *testing.T) {
			e := newEnv(t, rails{})
			e.use("op_a", 0, "pub", "a.example", "USD", 100_000)
			e.use("op_b", 0, "pub", "a.example", "USD", 100_000)
			cfg := e.cfg
			cfg.ReviewWindow = tt.window
			s := e.settlerWith(cfg, hooks{})
			closed := e.closeTime(0)
			e.clock.Set(closed)
			if _, err := s.Close(e.ctx, e.day(0)); err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, c := range tt.checks {
				e.clock.Set(closed.Add(c.after))
				ap, err := s.Approve(e.ctx, e.day(0))
				if err != nil {
					t.Fatal(err)
				}
				total += ap.Approved
				if total != c.approved {
					t.Fatalf("after %s: %d approved, want %d (%+v)", c.after, total, c.approved, ap)
				}
			}
			for _, inv := range e.invoices(e.day(0)) {
				last := inv.History[len(inv.History)-1]
				if inv.Status != ledger.StatusApproved || last.Reason != "review window passed" || last.Actor != "settler" {
					t.Errorf("%s: %s, last event %+v", inv.ID, inv.Status, last)
				}
			}
		})
	}
}
