// Package paywall meters crawlers inside any Go HTTP server: a
// func(http.Handler) http.Handler middleware that verifies a crawler's
// signed commitment (RFC 9421 / Web Bot Auth, the deferred and x402 v2
// dialects of pkg/deferred), prices the request, and, only when the wrapped
// handler answers 2xx, appends the commitment to the ledger before a single
// byte of the body is sent. The paycrawl gateway is this middleware wrapped
// around a reverse proxy.
//
// The request path, in order: site → always-free → payment intent →
// signature (keys from the Accounts, replay pre-check) → price decision
// (charge, allow, block) → offer and price acceptance → billing profile and
// spend-cap pre-check → the wrapped handler → on its first 2xx status,
// ledger append (BeforeCharge and AfterCharge hooks around it) → response
// with the receipt headers. If the ledger cannot be written the client gets
// 503 and nothing of the handler's body. Unsigned requests for a paid
// resource get 402 with the offer in every dialect.
//
// A charged response streams: the middleware never buffers a body, it only
// decides at the handler's WriteHeader (or first Write or Flush).
package paywall
