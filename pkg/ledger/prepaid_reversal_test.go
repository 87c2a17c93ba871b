package ledger

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// rev names top-up id of acme's agr_pre1, of amount.
func rev(id string, amount money.Micros) PrepaidReversal {
	return PrepaidReversal{Account: "acme", Agreement: "agr_pre1", TopUp: id, Amount: amount}
}

// balanceOf is acme's agr_pre1 balance.
func (e *env) balanceOf() money.Micros {
	e.t.Helper()
	b, err := e.l.PrepaidBalance(e.ctx, "acme", "agr_pre1")
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// drawOne appends a request of acme drawing d from agr_pre1's balance.
func (e *env) drawOne(d money.Micros) error {
	_, err := e.l.Append(e.ctx, e.prepaid("acme", d), Limits{})
	return err
}

func testPrepaidReverse(t *testing.T, e *env) {
	for _, up := range []struct {
		id     string
		amount money.Micros
	}{{"topup_1", 1_000}, {"topup_2", 500}} {
		if _, _, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", up.id, up.amount); err != nil {
			t.Fatal(err)
		}
	}
	// 1,200 drawn of 1,500: reversing the 500 top-up takes back the 300 left.
	for i := 0; i < 4; i++ {
		if err := e.drawOne(300); err != nil {
			t.Fatal(err)
		}
	}
	taken, balance, applied, err := e.l.ReversePrepaid(e.ctx, rev("topup_2", 500))
	if err != nil || taken != 300 || balance != 0 || !applied {
		t.Fatalf("reverse = %s %s %v %v; want 300 taken, 0 left", taken, balance, applied, err)
	}
	// Once only, and the top-up is not credited again by a resent credit.
	taken, balance, applied, err = e.l.ReversePrepaid(e.ctx, rev("topup_2", 500))
	if err != nil || taken != 300 || balance != 0 || applied {
		t.Fatalf("resent reverse = %s %s %v %v", taken, balance, applied, err)
	}
	if b, applied, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "topup_2", 500); err != nil || applied || b != 0 {
		t.Fatalf("credit resent after the reverse = %s %v %v", b, applied, err)
	}
	// Nothing left: the other top-up's reverse takes 0, and a request
	// drawing 1 micro-unit is refused.
	if taken, _, _, err := e.l.ReversePrepaid(e.ctx, rev("topup_1", 1_000)); err != nil || taken != 0 {
		t.Fatalf("reverse of a spent top-up = %s, %v", taken, err)
	}
	wantErr(t, e.drawOne(1), ErrPrepaidExhausted)

	// A unit: 12,345 left of a 25,000 top-up, a cent's unit takes 10,000
	// and leaves the 2,345 below a cent in the balance.
	if _, _, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "topup_3", 25_000); err != nil {
		t.Fatal(err)
	}
	if err := e.drawOne(12_655); err != nil {
		t.Fatal(err)
	}
	r3 := rev("topup_3", 25_000)
	r3.Unit = 10_000
	if taken, balance, _, err := e.l.ReversePrepaid(e.ctx, r3); err != nil || taken != 10_000 || balance != 2_345 {
		t.Fatalf("reverse by cents = %s %s %v; want 10000 taken, 2345 left", taken, balance, err)
	}

	// A top-up never credited is taken back whole, the balance unchanged,
	// and never credited afterwards.
	if taken, balance, applied, err := e.l.ReversePrepaid(e.ctx, rev("topup_9", 700)); err != nil || taken != 700 || balance != 2_345 || !applied {
		t.Fatalf("reverse of an uncredited top-up = %s %s %v %v", taken, balance, applied, err)
	}
	if b, applied, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "topup_9", 700); err != nil || applied || b != 2_345 {
		t.Fatalf("credit after its reverse = %s %v %v; want nothing credited", b, applied, err)
	}
	// Another amount than credited, and bad arguments, change nothing.
	if _, _, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "topup_4", 1_000); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = e.l.ReversePrepaid(e.ctx, rev("topup_4", 999))
	wantErr(t, err, ErrConflict)
	for _, bad := range []PrepaidReversal{rev("topup_4", 0), rev("bad|id", 1), {Account: "acme", Agreement: "agr_pre1", TopUp: "topup_4", Amount: 1_000, Unit: -1}} {
		_, _, _, err := e.l.ReversePrepaid(e.ctx, bad)
		wantErr(t, err, ErrInvalid)
	}
	if b := e.balanceOf(); b != 3_345 {
		t.Fatalf("balance %s after the refusals, want 3345", b)
	}
	ups, _ := e.l.PrepaidTopUps(e.ctx, "acme", "agr_pre1")
	want := map[string]money.Micros{"topup_1": 1_000, "topup_2": 500, "topup_3": 25_000, "topup_4": 1_000, "topup_9": 700}
	if !reflect.DeepEqual(ups, want) {
		t.Fatalf("top-ups %v, want %v", ups, want)
	}
}

// testPrepaidDispute: a chargeback takes back what is left of a top-up's
// credit (a draw is then refused), a won dispute gives exactly that back,
// each once whatever the replays; a won dispute reported before its
// chargeback makes the chargeback take nothing; a refund's reverse is
// refused while a chargeback holds the credit; a top-up never credited is
// taken back whole and given back whole.
func testPrepaidDispute(t *testing.T, e *env) {
	if _, _, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "tu_a", 1_000); err != nil {
		t.Fatal(err)
	}
	if err := e.drawOne(300); err != nil {
		t.Fatal(err)
	}
	ra := rev("tu_a", 1_000)
	steps := []struct {
		name    string
		do      func() (PrepaidDispute, error)
		want    PrepaidDispute
		balance money.Micros
	}{
		{"chargeback", func() (PrepaidDispute, error) { return e.l.ChargebackPrepaid(e.ctx, ra, "dp_1", ra.Amount) }, PrepaidDispute{Moved: 700, Applied: true}, 0},
		{"chargeback replayed", func() (PrepaidDispute, error) { return e.l.ChargebackPrepaid(e.ctx, ra, "dp_1", ra.Amount) }, PrepaidDispute{Moved: 700}, 0},
		{"won", func() (PrepaidDispute, error) { return e.l.ReinstatePrepaid(e.ctx, ra, "dp_1") }, PrepaidDispute{Moved: 700, Balance: 700, Applied: true}, 700},
		{"won replayed", func() (PrepaidDispute, error) { return e.l.ReinstatePrepaid(e.ctx, ra, "dp_1") }, PrepaidDispute{Moved: 700, Balance: 700}, 700},
		{"chargeback replayed after", func() (PrepaidDispute, error) { return e.l.ChargebackPrepaid(e.ctx, ra, "dp_1", ra.Amount) }, PrepaidDispute{Moved: 700, Balance: 700}, 700},
	}
	for _, st := range steps {
		got, err := st.do()
		if err != nil || got != st.want || e.balanceOf() != st.balance {
			t.Fatalf("%s = %+v, %v, balance %s; want %+v, balance %s", st.name, got, err, e.balanceOf(), st.want, st.balance)
		}
		if st.name == "chargeback" {
			wantErr(t, e.drawOne(1), ErrPrepaidExhausted)
			_, _, _, err := e.l.ReversePrepaid(e.ctx, ra)
			wantErr(t, err, ErrPrepaidDisputed)
			if st, err := e.l.PrepaidTopUp(e.ctx, "acme", "agr_pre1", "tu_a"); err != nil || st != (PrepaidTopUpState{Credited: 1_000, HeldBy: "dp_1"}) {
				t.Fatalf("state under the chargeback = %+v, %v", st, err)
			}
		}
	}
	// Won, the credit is the crawler's again: drawn, and refundable.
	if err := e.drawOne(200); err != nil {
		t.Fatal(err)
	}
	if st, err := e.l.PrepaidTopUp(e.ctx, "acme", "agr_pre1", "tu_a"); err != nil || st != (PrepaidTopUpState{Credited: 1_000}) {
		t.Fatalf("state after the won dispute = %+v, %v", st, err)
	}
	if taken, balance, _, err := e.l.ReversePrepaid(e.ctx, ra); err != nil || taken != 500 || balance != 0 {
		t.Fatalf("refund's reverse after the won dispute = %s %s %v", taken, balance, err)
	}
	if st, err := e.l.PrepaidTopUp(e.ctx, "acme", "agr_pre1", "tu_a"); err != nil || st != (PrepaidTopUpState{Credited: 1_000, Reversed: true, Taken: 500}) {
		t.Fatalf("state after the refund's reverse = %+v, %v", st, err)
	}
	// A later dispute of the refunded top-up takes nothing more.
	if got, err := e.l.ChargebackPrepaid(e.ctx, ra, "dp_2", ra.Amount); err != nil || got.Moved != 0 || !got.Applied {
		t.Fatalf("chargeback after the refund = %+v, %v", got, err)
	}
	if got, err := e.l.ReinstatePrepaid(e.ctx, ra, "dp_2"); err != nil || got.Moved != 0 || e.balanceOf() != 0 {
		t.Fatalf("its reinstatement = %+v, %v, balance %s", got, err, e.balanceOf())
	}

	// Won before its chargeback is reported: pending, then matched; replays
	// of both change nothing.
	if _, _, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "tu_b", 500); err != nil {
		t.Fatal(err)
	}
	rb := rev("tu_b", 500)
	for i := range 2 {
		got, err := e.l.ReinstatePrepaid(e.ctx, rb, "dp_3")
		if err != nil || got != (PrepaidDispute{Balance: 500, Applied: i == 0, Pending: i == 0}) {
			t.Fatalf("reinstatement first, report %d = %+v, %v", i, got, err)
		}
	}
	for i := range 2 {
		got, err := e.l.ChargebackPrepaid(e.ctx, rb, "dp_3", rb.Amount)
		if err != nil || got != (PrepaidDispute{Balance: 500, Applied: i == 0, Matched: i == 0}) {
			t.Fatalf("chargeback after its reinstatement, report %d = %+v, %v", i, got, err)
		}
	}
	if got, err := e.l.ReinstatePrepaid(e.ctx, rb, "dp_3"); err != nil || got.Applied || e.balanceOf() != 500 {
		t.Fatalf("reinstatement replayed = %+v, %v, balance %s", got, err, e.balanceOf())
	}

	// Never credited: taken back whole (balance unchanged), never credited
	// afterwards, given back whole when won.
	rc := rev("tu_c", 400)
	if got, err := e.l.ChargebackPrepaid(e.ctx, rc, "dp_4", rc.Amount); err != nil || got != (PrepaidDispute{Moved: 400, Balance: 500, Applied: true}) {
		t.Fatalf("chargeback of an uncredited top-up = %+v, %v", got, err)
	}
	if b, applied, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "tu_c", 400); err != nil || applied || b != 500 {
		t.Fatalf("credit after its chargeback = %s %v %v", b, applied, err)
	}
	if got, err := e.l.ReinstatePrepaid(e.ctx, rc, "dp_4"); err != nil || got != (PrepaidDispute{Moved: 400, Balance: 900, Applied: true}) {
		t.Fatalf("its reinstatement = %+v, %v", got, err)
	}
	// Refusals change nothing.
	if _, err := e.l.ChargebackPrepaid(e.ctx, rev("tu_b", 501), "dp_5", 501); !errors.Is(err, ErrConflict) {
		t.Fatalf("another amount: %v", err)
	}
	if _, err := e.l.ChargebackPrepaid(e.ctx, rb, "dp/5", rb.Amount); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a bad dispute id: %v", err)
	}
	if b := e.balanceOf(); b != 900 {
		t.Fatalf("balance %s after the refusals, want 900", b)
	}
}

// testPrepaidPartialDispute: a chargeback of 10.00 of a 100.00 top-up of
// which nothing was spent takes back 10.00, not all that is left, to the
// micro-unit; its reinstatement gives back exactly that. A partial
// chargeback of a top-up never credited credits the rest. A chargeback of
// 0 or above the top-up is refused with nothing changed.
func testPrepaidPartialDispute(t *testing.T, e *env) {
	if _, _, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "tu_big", 100_000_000); err != nil {
		t.Fatal(err)
	}
	rb := rev("tu_big", 100_000_000)
	if got, err := e.l.ChargebackPrepaid(e.ctx, rb, "dp_part", 10_000_001); err != nil || got != (PrepaidDispute{Moved: 10_000_001, Balance: 89_999_999, Applied: true}) {
		t.Fatalf("a partial chargeback = %+v, %v; want 10.000001 taken, 89.999999 left", got, err)
	}
	if got, err := e.l.ReinstatePrepaid(e.ctx, rb, "dp_part"); err != nil || got != (PrepaidDispute{Moved: 10_000_001, Balance: 100_000_000, Applied: true}) {
		t.Fatalf("its reinstatement = %+v, %v", got, err)
	}
	// Capped by the balance: 99.999 drawn, a 10.00 dispute takes the 0.001 left.
	if err := e.drawOne(99_999_000); err != nil {
		t.Fatal(err)
	}
	if got, err := e.l.ChargebackPrepaid(e.ctx, rb, "dp_part2", 10_000_000); err != nil || got != (PrepaidDispute{Moved: 1_000, Balance: 0, Applied: true}) {
		t.Fatalf("a partial chargeback above the balance = %+v, %v", got, err)
	}
	// Never credited: 1,000 of 5,000 taken back, the 4,000 rest credited.
	rn := rev("tu_new", 5_000)
	if got, err := e.l.ChargebackPrepaid(e.ctx, rn, "dp_new", 1_000); err != nil || got != (PrepaidDispute{Moved: 1_000, Balance: 4_000, Applied: true}) {
		t.Fatalf("a partial chargeback of an uncredited top-up = %+v, %v", got, err)
	}
	if b, applied, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "tu_new", 5_000); err != nil || applied || b != 4_000 {
		t.Fatalf("its credit afterwards = %s %v %v", b, applied, err)
	}
	if got, err := e.l.ReinstatePrepaid(e.ctx, rn, "dp_new"); err != nil || got != (PrepaidDispute{Moved: 1_000, Balance: 5_000, Applied: true}) {
		t.Fatalf("its reinstatement = %+v, %v", got, err)
	}
	for _, amount := range []money.Micros{0, -1, 5_001} {
		if _, err := e.l.ChargebackPrepaid(e.ctx, rn, "dp_bad", amount); !errors.Is(err, ErrInvalid) {
			t.Fatalf("a chargeback of %s: %v", amount, err)
		}
	}
	if b := e.balanceOf(); b != 5_000 {
		t.Fatalf("balance %s after the refusals, want 5000", b)
	}
}

// testPrepaidStop: a refund's reversal and a chargeback each stop
// automatic top-ups, naming the top-up and its agreement version; a
// matched chargeback (won first) does not; ResumePrepaid clears only the
// stop it read.
func testPrepaidStop(t *testing.T, e *env) {
	stopped := func() *PrepaidStop {
		t.Helper()
		st, err := e.l.PrepaidStopped(e.ctx, "acme", "agr_pre1")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := stopped(); st != nil {
		t.Fatalf("stopped before anything: %+v", st)
	}
	for _, id := range []string{"tu_1", "tu_2", "tu_3"} {
		if _, _, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", id, 1_000); err != nil {
			t.Fatal(err)
		}
	}
	r1 := rev("tu_1", 1_000)
	r1.Version = 2
	if _, _, _, err := e.l.ReversePrepaid(e.ctx, r1); err != nil {
		t.Fatal(err)
	}
	if st := stopped(); st == nil || *st != (PrepaidStop{By: "refund", TopUp: "tu_1", Version: 2, At: st.At}) || !st.At.Equal(e.clock.Now().Truncate(time.Millisecond)) {
		t.Fatalf("after a refund: %+v", st)
	}
	r2 := rev("tu_2", 1_000)
	if _, err := e.l.ChargebackPrepaid(e.ctx, r2, "dp_s", 500); err != nil {
		t.Fatal(err)
	}
	if st := stopped(); st == nil || *st != (PrepaidStop{By: "chargeback", TopUp: "tu_2", At: st.At}) || st.At.IsZero() {
		t.Fatalf("after a chargeback: %+v", st)
	}
	// Resuming the stop read before the chargeback clears nothing.
	if ok, err := e.l.ResumePrepaid(e.ctx, "acme", "agr_pre1", "tu_1"); err != nil || ok || stopped() == nil {
		t.Fatalf("resume of an older stop = %v, %v", ok, err)
	}
	if ok, err := e.l.ResumePrepaid(e.ctx, "acme", "agr_pre1", "tu_2"); err != nil || !ok || stopped() != nil {
		t.Fatalf("resume = %v, %v, stopped %+v", ok, err, stopped())
	}
	// Won before its chargeback: the chargeback, matched, stops nothing.
	r3 := rev("tu_3", 1_000)
	if _, err := e.l.ReinstatePrepaid(e.ctx, r3, "dp_w"); err != nil {
		t.Fatal(err)
	}
	if got, err := e.l.ChargebackPrepaid(e.ctx, r3, "dp_w", 1_000); err != nil || !got.Matched || stopped() != nil {
		t.Fatalf("a matched chargeback = %+v, %v, stopped %+v", got, err, stopped())
	}
	if ok, err := e.l.ResumePrepaid(e.ctx, "acme", "agr_pre1", "tu_3"); err != nil || ok {
		t.Fatalf("resume with no stop = %v, %v", ok, err)
	}
}
