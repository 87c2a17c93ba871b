// Package deferred implements the protocol of deferred pay-per-crawl: the
// crawler signs each request with an Ed25519 key published in a key directory
// (HTTP Message Signatures, RFC 9421, profiled by Web Bot Auth), and that
// signature is its commitment to pay; money moves later, in one aggregated
// charge per day.
//
// The package speaks three dialects at once:
//
//   - the deferred scheme of Cloudflare's 2025 proposal: a JSON 402 body
//     (x402 version 1) and the Payment / Payment-Response structured headers;
//   - x402 version 2: PAYMENT-REQUIRED, PAYMENT-SIGNATURE and PAYMENT-RESPONSE,
//     base64 JSON headers, with the schemes "deferred" and "batch-settlement";
//   - Cloudflare's pay-per-crawl price headers: crawler-price,
//     crawler-exact-price, crawler-max-price and crawler-charged.
//
// The server side builds offers (Offers), parses a request's payment intent
// (ParseIntent) and Signature-Agent (ParseSignatureAgent), verifies the
// signature under a policy (Verifier) with keys fetched from agent
// directories (DirectoryClient), and writes the payment response (Receipt).
// The crawler side signs requests (Signer) and answers 402 offers within a
// maximum price (Transport).
//
// The package holds no storage: replay protection and key-to-account
// resolution are interfaces (ReplayGuard, KeyResolver) implemented elsewhere.
package deferred
