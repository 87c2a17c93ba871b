package settle_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testlog"
	"github.com/paycrawl/paycrawl/internal/teststripe"
	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/stripe"
)

// disputes are the env's Disputes on stripe-mock, with an earnings book
// charging a 10 % fee.
func (e *env) disputes() (*settle.Disputes, *earnings.Book) {
	e.t.Helper()
	rail, err := stripe.New(stripe.Config{APIKey: teststripe.APIKey, BaseURL: e.stripeURL, Now: e.clock.Now, MaxNetworkRetries: -1, Logger: testlog.New()})
	if err != nil {
		e.t.Fatal(err)
	}
	book, err := earnings.New(earnings.Options{Redis: e.rdb, Ledger: e.l, Fees: earnings.FixedFee(1000)})
	if err != nil {
		e.t.Fatal(err)
	}
	return &settle.Disputes{Ledger: e.l, Book: book, Intents: rail, Logger: testlog.New()}, book
}

// TestTopUpChargeback: a 5.00 top-up of which 1.20 was drawn is charged
// back: the 3.80 left is taken from the balance (a draw is then refused),
// the publisher's 4.50 earned is charged back to 0.00 (the 1.20 spent is
// its loss), and a refund is refused while the dispute holds the credit.
// Won, the 3.80 and the 4.50 come back, once whatever the replays; a
// replayed chargeback after that takes nothing.
func TestTopUpChargeback(t *testing.T) {
	e, _, s, balance := prepaidWorld(t)
	ds, book := e.disputes()
	inv := e.paidTopUp(s, 5_000_000)
	pub := inv.Lines[0].Publisher
	v := e.prepAgreement("prep")
	if refused, err := e.agreed("prep", noon(2), v, 1_200_000, 1); refused != 0 {
		t.Fatal(err)
	}
	earned := func() money.Micros {
		t.Helper()
		b, err := book.Balance(e.ctx, pub, "USD")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	at := noon(3)
	cb := settle.Dispute{ID: "dp_tu1", PaymentIntent: inv.PaymentIntent, Amount: 5_000_000, Currency: "USD", Action: settle.DisputeChargeback, At: at}
	won := cb
	won.Action, won.At = settle.DisputeReinstated, at.Add(24*time.Hour)
	// A dispute above the charge is refused before any credit moves.
	above := cb
	above.Amount = 5_010_000
	if _, err := ds.Apply(e.ctx, above); !errors.Is(err, ledger.ErrInvalid) || balance("prep") != 3_800_000 {
		t.Fatalf("a dispute above the charge: %v, balance %s", err, balance("prep"))
	}
	steps := []struct {
		name            string
		d               settle.Dispute
		moved           money.Micros
		applied         bool
		balance, earned money.Micros
	}{
		{"chargeback", cb, 3_800_000, true, 0, 0},
		{"chargeback replayed", cb, 3_800_000, false, 0, 0},
		{"won", won, 3_800_000, true, 3_800_000, 4_500_000},
		{"won replayed", won, 3_800_000, false, 3_800_000, 4_500_000},
		{"chargeback replayed after", cb, 3_800_000, false, 3_800_000, 4_500_000},
	}
	for _, st := range steps {
		res, err := ds.Apply(e.ctx, st.d)
		if err != nil || res.Invoice != inv.ID || res.Credit == nil || res.Credit.Moved != st.moved || res.Credit.Applied != st.applied {
			t.Fatalf("%s: Apply = %+v (credit %+v), %v", st.name, res, res.Credit, err)
		}
		if b, g := balance("prep"), earned(); b != st.balance || g != st.earned {
			t.Fatalf("%s: balance %s, earned %s; want %s, %s", st.name, b, g, st.balance, st.earned)
		}
		if st.name == "chargeback" {
			if refused, err := e.agreed("prep", noon(3), v, 1, 1); refused != 1 || !errors.Is(err, ledger.ErrPrepaidExhausted) {
				t.Fatalf("a draw after the chargeback: refused %d, %v", refused, err)
			}
			_, err := s.Refund(e.ctx, inv.ID, 0, settle.Review{Actor: "fin", Reason: "r"})
			wantErr(t, err, settle.ErrTopUpDisputed)
			if len(e.refundsOf(inv.ID)) != 0 {
				t.Fatal("a disputed top-up was refunded on Stripe")
			}
		}
	}
	// Won: the credit is the crawler's again.
	if refused, err := e.agreed("prep", noon(4), v, 3_800_000, 1); refused != 0 || balance("prep") != 0 {
		t.Fatalf("a draw of the credit given back: %v, balance %s", err, balance("prep"))
	}
}

// TestTopUpReinstatementBeforeChargeback: the won dispute's webhook
// arrives before its chargeback's: it gives nothing and takes nothing from
// the earnings; the chargeback, when it comes, is matched at once: the
// balance and the publisher's earnings are what they were, to the
// micro-unit, after it and after every replay.
func TestTopUpReinstatementBeforeChargeback(t *testing.T) {
	e, _, s, balance := prepaidWorld(t)
	ds, book := e.disputes()
	inv := e.paidTopUp(s, 5_000_000)
	if refused, err := e.agreed("prep", noon(2), e.prepAgreement("prep"), 700_001, 1); refused != 0 {
		t.Fatal(err)
	}
	cb := settle.Dispute{ID: "dp_tu2", PaymentIntent: inv.PaymentIntent, Amount: 5_000_000, Currency: "USD", Action: settle.DisputeChargeback, At: noon(3)}
	won := cb
	won.Action = settle.DisputeReinstated
	for i, d := range []settle.Dispute{won, won, cb, cb, won} {
		res, err := ds.Apply(e.ctx, d)
		if err != nil || res.Credit == nil || res.Credit.Moved != 0 {
			t.Fatalf("report %d (%s): %+v, %v", i, d.Action, res, err)
		}
		if i == 0 && !res.Credit.Pending || i == 2 && !res.Credit.Matched || i != 0 && i != 2 && res.Credit.Applied {
			t.Fatalf("report %d (%s): credit %+v", i, d.Action, res.Credit)
		}
		earned, _ := book.Balance(e.ctx, inv.Lines[0].Publisher, "USD")
		if b := balance("prep"); b != 4_299_999 || earned != 4_500_000 {
			t.Fatalf("after report %d (%s): balance %s, earned %s; want 4.299999, 4.50", i, d.Action, b, earned)
		}
	}
}

// TestTopUpPartialChargeback: a 100.00 top-up, nothing spent, is charged
// back for 10.00: 10.00 of its credit is taken back, not all of it (90.00
// stays the crawler's, to the micro-unit); won, exactly 10.00 comes back.
func TestTopUpPartialChargeback(t *testing.T) {
	e, _, s, balance := prepaidWorld(t)
	ds, _ := e.disputes()
	inv := e.paidTopUp(s, 100_000_000)
	cb := settle.Dispute{ID: "dp_part", PaymentIntent: inv.PaymentIntent, Amount: 10_000_000, Currency: "USD", Action: settle.DisputeChargeback, At: noon(3)}
	res, err := ds.Apply(e.ctx, cb)
	if err != nil || res.Credit == nil || res.Credit.Moved != 10_000_000 || balance("prep") != 90_000_000 {
		t.Fatalf("a 10.00 chargeback of a 100.00 top-up: %+v, %v, balance %s; want 10.00 taken, 90.00 left", res, err, balance("prep"))
	}
	won := cb
	won.Action = settle.DisputeReinstated
	if res, err := ds.Apply(e.ctx, won); err != nil || res.Credit.Moved != 10_000_000 || balance("prep") != 100_000_000 {
		t.Fatalf("won: %+v, %v, balance %s", res, err, balance("prep"))
	}
}

// TestTopUpChargebackRefusedIDMovesNothing: a dispute id the ledger takes
// but the earnings book refuses (110 characters: the book's limit is 100)
// is refused before any credit moves: the balance is whole, and the same
// chargeback under a good id then takes the credit.
func TestTopUpChargebackRefusedIDMovesNothing(t *testing.T) {
	e, _, s, balance := prepaidWorld(t)
	ds, _ := e.disputes()
	inv := e.paidTopUp(s, 5_000_000)
	cb := settle.Dispute{ID: "dp_" + strings.Repeat("a", 107), PaymentIntent: inv.PaymentIntent, Amount: 5_000_000, Currency: "USD", Action: settle.DisputeChargeback, At: noon(3)}
	if _, err := ds.Apply(e.ctx, cb); !errors.Is(err, ledger.ErrInvalid) || balance("prep") != 5_000_000 {
		t.Fatalf("a refused dispute id: %v, balance %s; want ErrInvalid, 5.00", err, balance("prep"))
	}
	cb.ID = "dp_ok"
	if _, err := ds.Apply(e.ctx, cb); err != nil || balance("prep") != 0 {
		t.Fatalf("the chargeback under a good id: %v, balance %s", err, balance("prep"))
	}
}
