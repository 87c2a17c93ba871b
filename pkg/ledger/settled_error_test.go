package ledger

import "testing"

// settledErrorCases are the suite's cases of a settled invoice's last error.
var settledErrorCases = []suiteCase{
	{"SettledInvoiceShowsNoStaleError", testSettledInvoiceShowsNoStaleError},
}

// testSettledInvoiceShowsNoStaleError: a failed attempt's error leaves the
// invoice once a retry pays it; the attempt keeps it.
func testSettledInvoiceShowsNoStaleError(t *testing.T, e *env) {
	inv := e.invoice("op_err", 1_000_000)
	e.move(inv.ID, Transition{To: StatusApproved})
	e.move(inv.ID, Transition{To: StatusCharging})
	e.move(inv.ID, Transition{To: StatusFailed, Set: Settlement{Rail: "stripe", Error: "card_declined: insufficient_funds"},
		Attempt: &Attempt{Rail: "stripe", Outcome: "failed", Error: "card_declined: insufficient_funds"}})
	if got := e.get(inv.ID); got.Error == "" {
		t.Fatal("a failed invoice does not show its error")
	}
	e.move(inv.ID, Transition{To: StatusCharging})
	e.move(inv.ID, Transition{To: StatusPaid, Set: Settlement{PaymentIntent: "pi_2", Charged: inv.Total},
		Attempt: &Attempt{Rail: "stripe", Reference: "pi_2", Outcome: "succeeded"}})
	got := e.get(inv.ID)
	if got.Status != StatusPaid || got.Error != "" {
		t.Fatalf("paid invoice: status %s, error %q", got.Status, got.Error)
	}
	if len(got.Attempts) != 2 || got.Attempts[0].Error == "" {
		t.Fatalf("attempts %+v: the failed one must keep its error", got.Attempts)
	}
}
