// Package webhook sends paycrawl's events to the HTTP endpoints people
// register, the way Stripe sends its webhooks: each delivery is a JSON POST
// signed with the endpoint's secret, retried with exponential backoff until
// the receiver answers 2xx, and logged.
//
// # Signature
//
// Every delivery carries
//
//	Paycrawl-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
// where the HMAC is keyed with the endpoint's secret (whsec_…, shown once
// when the endpoint is registered) over the bytes
//
//	<t> "." <the raw request body>
//
// A receiver recomputes it over the body exactly as received, compares in
// constant time, and refuses a timestamp older than its tolerance (five
// minutes by default) so that a captured delivery cannot be replayed
// later; Verify does all three. Several v1 entries may appear (while a
// secret is rotated); one matching is enough. Paycrawl-Event-Id is the
// event's id: the same event may be delivered more than once (a receiver
// answered too late), so receivers deduplicate on it.
//
// # Body
//
//	{"id":"evt_…","type":"invoice.paid","created":"2026-12-01T00:10:00Z","data":{…}}
//
// # Delivery
//
// Emit stores the event once per owner (a repeated event id is ignored)
// and a delivery job per matching endpoint in Redis; Run (or RunOnce)
// claims due jobs with a lease, POSTs them and records each attempt in the
// endpoint's delivery log. A failed attempt is retried after
// Backoff(attempt): 30 s, 1 min, 2 min, … capped at an hour, up to
// MaxAttempts; then the job is marked failed. A process that dies
// mid-delivery leaves the job to be claimed again when its lease ends.
// Endpoints must be https URLs of public addresses, unless the Store's
// options allow otherwise (tests, the demo).
package webhook
