// Package stripe is the card rail of the settler: it collects an invoice with
// one off-session Stripe PaymentIntent on the customer's default payment
// method, confirmed at once, with stripe-go v76 against a configurable API
// base URL (Stripe, or stripe-mock in tests and demos).
//
// Exactly once: the request carries the idempotency key
// "paycrawl-<invoice id>-a<attempt>", the same for every call of one charge
// attempt, so a retried or resumed call gets Stripe's first answer again
// instead of a second charge. Before the first call the payment method is
// noted on the invoice (attempt note "requested"), so that a resumed call
// sends the very same parameters even if the customer's default payment
// method changed meanwhile (Stripe refuses a key reused with other
// parameters). Stripe keeps keys for 24 hours: an attempt
// still unresolved after Config.KeyWindow (23 h) is not sent again; Charge
// then returns an error wrapping settle.ErrStuck, and the invoice waits,
// charging, for a person to look it up in Stripe.
//
// Amounts: Stripe charges whole cents with a minimum charge. A total below
// the minimum is carried over to the next invoice whole, without calling
// Stripe; otherwise the sub-cent remainder is carried over, so that Charged +
// CarriedOut equals the invoice total to the micro-unit.
package stripe
