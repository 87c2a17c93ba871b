package testledger

import (
	"slices"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// TestPathTo: each status's path is the one the tests of internal/finance
// and pkg/settle drove invoices along.
func TestPathTo(t *testing.T) {
	a, c := ledger.StatusApproved, ledger.StatusCharging
	want := map[ledger.Status][]ledger.Status{
		ledger.StatusDraft:    nil,
		ledger.StatusHeld:     {ledger.StatusHeld},
		ledger.StatusApproved: {a},
		ledger.StatusCharging: {a, c},
		ledger.StatusPending:  {a, c, ledger.StatusPending},
		ledger.StatusPaid:     {a, c, ledger.StatusPaid},
		ledger.StatusFailed:   {a, c, ledger.StatusFailed},
		ledger.StatusVoid:     {ledger.StatusVoid},
		ledger.StatusCarried:  {a, c, ledger.StatusCarried},
	}
	if len(Statuses()) != len(want) {
		t.Fatalf("%d statuses, %d paths", len(Statuses()), len(want))
	}
	for _, st := range Statuses() {
		if got := PathTo(st); !slices.Equal(got, want[st]) {
			t.Errorf("PathTo(%s) = %v, want %v", st, got, want[st])
		}
	}
}
