package ledger

import (
	"errors"
	"reflect"
	"testing"

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
		{"chargeback", func() (PrepaidDispute, error) { return e.l.ChargebackPrepaid(e.ctx, ra, "dp_1") }, PrepaidDispute{Moved: 700, Applied: true}, 0},
		{"chargeback replayed", func() (PrepaidDispute, error) { return e.l.ChargebackPrepaid(e.ctx, ra, "dp_1") }, PrepaidDispute{Moved: 700}, 0},
		{"won", func() (PrepaidDispute, error) { return e.l.ReinstatePrepaid(e.ctx, ra, "dp_1") }, PrepaidDispute{Moved: 700, Balance: 700, Applied: true}, 700},
		{"won replayed", func() (PrepaidDispute, error) { return e.l.ReinstatePrepaid(e.ctx, ra, "dp_1") }, PrepaidDispute{Moved: 700, Balance: 700}, 700},
		{"chargeback replayed after", func() (PrepaidDispute, error) { return e.l.ChargebackPrepaid(e.ctx, ra, "dp_1") }, PrepaidDispute{Moved: 700, Balance: 700}, 700},
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
	if got, err := e.l.ChargebackPrepaid(e.ctx, ra, "dp_2"); err != nil || got.Moved != 0 || !got.Applied {
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
		got, err := e.l.ChargebackPrepaid(e.ctx, rb, "dp_3")
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
	if got, err := e.l.ChargebackPrepaid(e.ctx, rc, "dp_4"); err != nil || got != (PrepaidDispute{Moved: 400, Balance: 500, Applied: true}) {
		t.Fatalf("chargeback of an uncredited top-up = %+v, %v", got, err)
	}
	if b, applied, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "tu_c", 400); err != nil || applied || b != 500 {
		t.Fatalf("credit after its chargeback = %s %v %v", b, applied, err)
	}
	if got, err := e.l.ReinstatePrepaid(e.ctx, rc, "dp_4"); err != nil || got != (PrepaidDispute{Moved: 400, Balance: 900, Applied: true}) {
		t.Fatalf("its reinstatement = %+v, %v", got, err)
	}
	// Refusals change nothing.
	if _, err := e.l.ChargebackPrepaid(e.ctx, rev("tu_b", 501), "dp_5"); !errors.Is(err, ErrConflict) {
		t.Fatalf("another amount: %v", err)
	}
	if _, err := e.l.ChargebackPrepaid(e.ctx, rb, "dp/5"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a bad dispute id: %v", err)
	}
	if b := e.balanceOf(); b != 900 {
		t.Fatalf("balance %s after the refusals, want 900", b)
	}
}
