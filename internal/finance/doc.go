// Package finance serves the finance team's review of the settler's
// invoices: a JSON API under /v1 for tools and the `settler invoices`
// command line (bearer tokens), and a server-rendered web page for people
// (a session cookie after pasting a token, CSRF-protected forms).
//
// Two roles: "finance" may act (hold, release, void, approve early, credit
// a line), "viewer" may only read. Every action goes through the settler's
// own operations (settle.Settler.Hold…), which take the settler lock and
// record the token's name as the actor, so an action never interleaves with
// a settlement run and is idempotent: repeating one that already took
// effect changes nothing and says so.
//
// Reads come straight from the ledger. The audit of an invoice re-verifies
// every commitment's signature against the archived public key and checks
// that the commitments add up to the invoice lines; it and the CSV exports
// stream the crawler-day's commitments, so memory stays bounded whatever
// the day's size.
//
// The API:
//
//	GET  /v1/invoices?day=D | from=D&to=D         invoices of a day (the latest with invoices by default) or a
//	     &status=S&account=op_…&rail=stripe|evm|none  range of at most 93 days, newest first, filtered; q= searches
//	     &q=…                                      invoice ids and payment references (pi_…, 0x…); totals keep voids apart
//	GET  /v1/queue?from=D&to=D&account=…          what needs a person (failed, held, pending, drafts in review),
//	                                              the most urgent first, each with what to do (last 31 days by default)
//	GET  /v1/chart?from=D&to=D&account=…&rail=…   billed (voids excluded) and charged per day, by currency
//	GET  /v1/invoices/{id}                        one invoice: lines, history, attempts, reconciliation ids
//	POST /v1/invoices/{id}/hold                   {"reason": "…"}   (finance)
//	POST /v1/invoices/{id}/release                {"reason": "…"}?  (finance)
//	POST /v1/invoices/{id}/void                   {"reason": "…"}   (finance)
//	POST /v1/invoices/{id}/approve                {"reason": "…"}?  (finance)
//	POST /v1/invoices/{id}/lines/{n}/credit       {"amount": "0.01", "reason": "…"} (finance)
//	GET  /v1/webhooks                             finance's webhook endpoints (pkg/webhook: signed, retried, logged)
//	POST /v1/webhooks                             {"url": "https://…", "events": ["invoice.paid", …]} (finance);
//	                                              answers the endpoint with its secret whsec_…, shown once
//	DELETE /v1/webhooks/{id}                      (finance)
//	GET  /v1/webhooks/{id}/deliveries             the delivery log, newest first
//	GET  /v1/days/{day}/summary                   counts and totals by status and rail, carried amounts
//	GET  /v1/days/{day}/invoices.csv              the day's invoices as CSV
//	GET  /v1/invoices/{id}/commitments.csv        the invoice's commitments as CSV (streamed)
//	GET  /v1/invoices/{id}/audit                  NDJSON stream: failures, progress, summary
//	GET  /v1/payouts?status=S&publisher=pub_…     publishers' payouts, newest first, with the actions each allows
//	GET  /v1/payouts/{id}                         one payout with its history: who, when, why
//	POST /v1/payouts/{id}/hold                    {"reason": "…"}   (finance) a pending or failed payout
//	POST /v1/payouts/{id}/release                 {"reason": "…"}   (finance) a held or failed one, sent by the next run
//	POST /v1/payouts/{id}/cancel                  {"reason": "…"}   (finance) its amount goes back to the balance
//	POST /v1/stripe/events                        Stripe's charge.dispute.* events, signed with the endpoint's
//	                                              secret (no bearer token): chargebacks of publishers' earnings
//
// Invoices carry operator_name and operator_contact from the operator
// registry (Options.Operators), as do the CSV export and the page.
//
// Errors are {code, message, request_id}: 400 bad input (an unknown or
// repeated query parameter too, so a misspelt filter never shows
// everything), 401 no or wrong
// token, 403 a viewer acting, 404 unknown invoice or payout, 409 an action
// the invoice's or payout's status forbids (the message names the status),
// 423 the settler is charging or paying out right now, 503 the ledger is
// unavailable.
package finance
