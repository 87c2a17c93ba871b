package earnings

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// twoPublisherInvoice is a world (pub_a's fee 10 %, pub_b's none) and
// op_x's invoice of yesterday, not yet charged: 0.60 of pub_a's site and
// 0.40 of pub_b's.
func twoPublisherInvoice(t *testing.T) (*world, *ledger.Invoice) {
	t.Helper()
	w := newWorld(t, feeTable{"pub_a": 1000, "pub_b": 0})
	day := ledger.Day(w.clock.Now())
	w.crawl("op_x", "pub_a", "a.example", 600_000)
	w.crawl("op_x", "pub_b", "b.example", 400_000)
	w.clock.Advance(24 * time.Hour)
	inv, _, err := w.l.CreateInvoice(w.ctx, "op_x", day, "USD", "settler")
	if err != nil {
		t.Fatal(err)
	}
	return w, inv
}

// TestChargebackIsProportionalAndIdempotent: a partial chargeback falls on
// an invoice's lines in proportion to what each earned, each share giving
// back its fee; reported again it adds nothing; a won dispute gives back
// exactly what it took, once; bad chargebacks are refused.
func TestChargebackIsProportionalAndIdempotent(t *testing.T) {
	w, inv := twoPublisherInvoice(t)
	if _, err := w.book.Chargeback(w.ctx, inv.ID, Chargeback{ID: "dp_early", Amount: 1}); !errors.Is(err, ledger.ErrInvalid) {
		t.Fatalf("a chargeback of an unpaid invoice: %v", err)
	}
	w.settle(inv.ID, ledger.StatusPaid)
	cb := Chargeback{ID: "dp_1", Amount: 500_000, At: w.clock.Now()}
	for i := range 3 {
		rep, err := w.book.Chargeback(w.ctx, inv.ID, cb)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 2, false: 0}[i == 0]; rep.Entries != want {
			t.Fatalf("report %d recorded %d entries, want %d", i, rep.Entries, want)
		}
	}
	balances := func() (a, b money.Micros) {
		t.Helper()
		a, _ = w.book.Balance(w.ctx, "pub_a", "USD")
		b, _ = w.book.Balance(w.ctx, "pub_b", "USD")
		return a, b
	}
	// pub_a earned 0.54 (0.60 less 10 %) and gives back 0.30 less its fee 0.03; pub_b 0.40 less 0.20.
	if a, b := balances(); a != 540_000-270_000 || b != 200_000 {
		t.Fatalf("balances after the chargeback: %s, %s", a, b)
	}
	for _, bad := range []Chargeback{{ID: "", Amount: 1}, {ID: "dp/2", Amount: 1}, {ID: "dp_3", Amount: 0}, {ID: "dp_4", Amount: 1_000_001}} {
		if _, err := w.book.Chargeback(w.ctx, inv.ID, bad); !errors.Is(err, ledger.ErrInvalid) {
			t.Fatalf("chargeback %+v: %v", bad, err)
		}
	}
	for range 2 {
		if _, err := w.book.Reinstatement(w.ctx, inv.ID, cb); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := balances(); a != 540_000 || b != 400_000 {
		t.Fatalf("balances after the reinstatement: %s, %s", a, b)
	}
	if rep, err := w.book.Reinstatement(w.ctx, inv.ID, Chargeback{ID: "dp_never"}); err != nil || rep.Entries != 0 {
		t.Fatalf("reinstating an unknown dispute: %+v %v", rep, err)
	}
}

// TestStatementSeparatesRefundsAndChargebacks: a statement shows a refund
// in Refunds and a chargeback in Chargebacks (a won dispute giving it back
// there too), each crawler's and site's row as its totals, and Net adds up.
func TestStatementSeparatesRefundsAndChargebacks(t *testing.T) {
	w := newWorld(t, feeTable{"pub_a": 1000})
	from := w.clock.Now().Add(-time.Hour)
	day := ledger.Day(w.clock.Now())
	w.crawl("op_x", "pub_a", "a.example", 1_000_000)
	w.clock.Advance(24 * time.Hour)
	inv, _, err := w.l.CreateInvoice(w.ctx, "op_x", day, "USD", "settler")
	if err != nil {
		t.Fatal(err)
	}
	w.settle(inv.ID, ledger.StatusPaid, 100_000)
	if _, err := w.book.RecordInvoice(w.ctx, inv.ID); err != nil {
		t.Fatal(err)
	}
	lost := Chargeback{ID: "dp_lost", Amount: 300_000, At: w.clock.Now()}
	won := Chargeback{ID: "dp_won", Amount: 200_000, At: w.clock.Now()}
	for _, cb := range []Chargeback{lost, won} {
		if _, err := w.book.Chargeback(w.ctx, inv.ID, cb); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.book.Reinstatement(w.ctx, inv.ID, won); err != nil {
		t.Fatal(err)
	}
	st, err := w.book.Statement(w.ctx, "pub_a", from, w.clock.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Earned 1.00 less 10 %; a 0.10 refund and a 0.30 chargeback each give
	// their fee back.
	want := Sums{Requests: 1, Gross: 1_000_000, Refunds: -100_000, Chargebacks: -300_000, Fee: 100_000 - 10_000 - 30_000, Net: 900_000 - 90_000 - 270_000}
	got := st.Totals["USD"]
	if got != want {
		t.Fatalf("totals %+v, want %+v", got, want)
	}
	if got.Gross-got.Credits-got.Voids+got.Refunds+got.Chargebacks-got.Fee != got.Net {
		t.Fatalf("net %s does not add up: %+v", got.Net, got)
	}
	if len(st.Crawlers) != 1 || st.Crawlers[0].Sums != want || len(st.Sites) != 1 || st.Sites[0].Sums != want {
		t.Fatalf("rows %+v %+v, want each %+v", st.Crawlers, st.Sites, want)
	}
}

// TestReinstatementBeforeChargeback: webhooks arrive in any order. A won
// dispute reported before its chargeback records no entry but is kept, so
// the chargeback, when it comes, is matched at once: both entries on each
// line, net zero to the micro-unit; replays of either add nothing; another
// dispute of the same invoice is not matched by it.
func TestReinstatementBeforeChargeback(t *testing.T) {
	w, inv := twoPublisherInvoice(t)
	w.settle(inv.ID, ledger.StatusPaid)
	balances := func() (a, b money.Micros) {
		t.Helper()
		a, _ = w.book.Balance(w.ctx, "pub_a", "USD")
		b, _ = w.book.Balance(w.ctx, "pub_b", "USD")
		return a, b
	}
	cb := Chargeback{ID: "dp_1", Amount: 500_000, At: w.clock.Now()}
	won := Chargeback{ID: "dp_1", Amount: 500_000, At: w.clock.Now().Add(time.Hour)}
	for i := range 2 {
		rep, err := w.book.Reinstatement(w.ctx, inv.ID, won)
		if err != nil || rep.Entries != 0 {
			t.Fatalf("reinstatement first, report %d: %+v, %v", i, rep, err)
		}
	}
	for i := range 3 {
		rep, err := w.book.Chargeback(w.ctx, inv.ID, cb)
		if want := map[bool]int{true: 4, false: 0}[i == 0]; err != nil || rep.Entries != want {
			t.Fatalf("chargeback after its reinstatement, report %d: %+v, %v; want %d entries", i, rep, err, want)
		}
		if a, b := balances(); a != 540_000 || b != 400_000 {
			t.Fatalf("balances after chargeback report %d: %s, %s; want 0.54, 0.40 (net zero)", i, a, b)
		}
	}
	if rep, err := w.book.Reinstatement(w.ctx, inv.ID, won); err != nil || rep.Entries != 0 {
		t.Fatalf("reinstatement replayed: %+v, %v", rep, err)
	}
	es, err := w.book.Entries(w.ctx, "pub_a", time.Time{}, w.clock.Now().Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range es {
		kinds = append(kinds, e.Kind+" "+e.Net.String())
	}
	if got := strings.Join(kinds, ", "); got != "earning 0.54, chargeback -0.27, reinstated 0.27" {
		t.Fatalf("pub_a's entries: %s", got)
	}
	// Another dispute of the invoice is a chargeback of its own.
	if rep, err := w.book.Chargeback(w.ctx, inv.ID, Chargeback{ID: "dp_2", Amount: 100_000, At: w.clock.Now()}); err != nil || rep.Entries != 2 {
		t.Fatalf("another dispute: %+v, %v", rep, err)
	}
	if a, b := balances(); a != 540_000-54_000 || b != 400_000-40_000 {
		t.Fatalf("balances after another dispute: %s, %s", a, b)
	}
	if _, err := w.book.Reinstatement(w.ctx, inv.ID, Chargeback{ID: "dp/3"}); !errors.Is(err, ledger.ErrInvalid) {
		t.Fatalf("a bad dispute id: %v", err)
	}
}
