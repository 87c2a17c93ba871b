// Package testledger holds what tests outside pkg/ledger share about
// invoices: every status, and the transitions that bring a checked draft to
// each. (pkg/ledger's own tests keep theirs: they cannot import a package
// that imports the ledger.)
package testledger

import "github.com/paycrawl/paycrawl/pkg/ledger"

// Statuses returns every invoice status, in the order of the lifecycle.
func Statuses() []ledger.Status {
	return []ledger.Status{
		ledger.StatusDraft, ledger.StatusHeld, ledger.StatusApproved, ledger.StatusCharging, ledger.StatusPending,
		ledger.StatusPaid, ledger.StatusFailed, ledger.StatusVoid, ledger.StatusCarried,
	}
}

// PathTo returns the transitions, in order, that bring a checked draft to
// st: none for a draft.
func PathTo(st ledger.Status) []ledger.Status {
	switch st {
	case ledger.StatusHeld, ledger.StatusApproved, ledger.StatusVoid:
		return []ledger.Status{st}
	case ledger.StatusCharging:
		return []ledger.Status{ledger.StatusApproved, ledger.StatusCharging}
	case ledger.StatusPending, ledger.StatusPaid, ledger.StatusFailed, ledger.StatusCarried:
		return []ledger.Status{ledger.StatusApproved, ledger.StatusCharging, st}
	}
	return nil
}
