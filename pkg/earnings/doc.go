// Package earnings is what each publisher is owed: the earnings ledger.
//
// One gateway serves many publishers and each crawler pays one charge a day
// across all of them, so paycrawl collects for the publishers. When an
// invoice is paid, each of its lines (one per publisher site) becomes an
// earning of that site's publisher: the line's amount, minus the credit
// finance gave on it, minus the platform's fee (the publisher's fee in basis
// points, rounded toward zero: Fee). A voided invoice earns nothing (its
// lines are kept as voided, net 0, for statements); an unpaid one earns
// nothing yet; a carried invoice (below the rail's minimum) earns when a
// later invoice collects its amount; a refund or a chargeback afterwards is
// a negative earning spread over the lines it takes back.
//
// Entries are idempotent by their key, which names the invoice line they
// come from ("<invoice>/<line>"), and from there the commitments of that
// crawler, day and site. [Book.RecordDay] is run by the settler after every
// settlement run and may be run again at any time. Amounts are int64
// micro-units ([money.Micros]); no float touches them.
//
// Payouts (payout.go) take a publisher's balance in one atomic step with
// the payout's record, so that a balance is paid out once.
package earnings
