// Package settle turns each crawler's day of commitments into invoices and
// charges each invoice exactly once, whatever crashes.
//
// A [Settler] runs four operations, each under the ledger's "settler" lock
// whose fencing token every invoice change carries, so that only one settler
// acts at a time across replicas and a settler whose lock expired is refused
// by the ledger ([ledger.ErrFenced]):
//
//   - [Settler.Close] builds a day's invoices once the day is over and its
//     grace period passed: one per crawler and currency, one line per
//     publisher site, with the crawler's carry-over consumed into it. It
//     checks each crawler-day's aggregate against the stream of commitments
//     and holds an invoice whose day does not add up, saying why. Invoice ids
//     are deterministic, so closing twice changes nothing.
//   - [Settler.Approve] approves the checked drafts whose review window (in
//     which finance may hold, void or credit them) has passed.
//   - [Settler.Charge] charges approved invoices on their crawler's rail,
//     resumes invoices a crash left charging (same attempt, so the same
//     Stripe idempotency key or the same signed transaction), reconciles
//     pending ones and retries failed ones on a backoff schedule.
//   - [Settler.RunOnce] does all of that for the days of a look-back window.
//
// Rails implement [Rail], each in its own subpackage: settle/stripe (cards,
// through Stripe PaymentIntents) and settle/evm (an ERC-20 stablecoin pulled
// with transferFrom). A rail's Charge returns an [Outcome] when it knows what
// happened and an error when it does not ("outcome unknown"): the invoice
// then stays charging and the next run resumes the same attempt.
//
// Every attempt is recorded on the invoice (ledger attempts, numbered), and
// the invoice shows the rail, the PaymentIntent id or transaction hash and
// block, and the amounts charged and carried over.
package settle
