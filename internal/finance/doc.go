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
//	GET  /v1/invoices?day=YYYY-MM-DD&status=S     the day's invoices (yesterday by default)
//	GET  /v1/invoices/{id}                        one invoice: lines, history, attempts, reconciliation ids
//	POST /v1/invoices/{id}/hold                   {"reason": "…"}   (finance)
//	POST /v1/invoices/{id}/release                {"reason": "…"}?  (finance)
//	POST /v1/invoices/{id}/void                   {"reason": "…"}   (finance)
//	POST /v1/invoices/{id}/approve                {"reason": "…"}?  (finance)
//	POST /v1/invoices/{id}/lines/{n}/credit       {"amount": "0.01", "reason": "…"} (finance)
//	GET  /v1/days/{day}/summary                   counts and totals by status and rail, carried amounts
//	GET  /v1/days/{day}/invoices.csv              the day's invoices as CSV
//	GET  /v1/invoices/{id}/commitments.csv        the invoice's commitments as CSV (streamed)
//	GET  /v1/invoices/{id}/audit                  NDJSON stream: failures, progress, summary
//
// Errors are {code, message, request_id}: 400 bad input, 401 no or wrong
// token, 403 a viewer acting, 404 unknown invoice, 409 an action the
// invoice's status forbids (the message names the status), 423 the settler
// is charging right now, 503 the ledger is unavailable.
package finance
