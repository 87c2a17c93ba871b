package deferred

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/paycrawl/paycrawl/pkg/x402"
)

// Code is a precise, machine-readable reason for refusing a request. Each code
// maps to an HTTP status, a Cloudflare crawler-error code and an x402 error
// code (see Status, CrawlerError and X402).
type Code string

// The codes. The comment after each gives its status and crawler-error code.
// A crawler-error code keeps the status Cloudflare's pay-per-crawl table
// gives it (developers.cloudflare.com, ai-crawl-control, pay-per-crawl
// "Error codes"), with three documented kinds of exception: InternalError is
// 500 there, and here also 502, 503 or 504 where the failure is the origin's
// or a dependency's and worth retrying (with Retry-After on 503), since
// Cloudflare's own advice is to retry only InternalError; and InvalidRequest
// is paycrawl's own, for requests Cloudflare refuses before pay-per-crawl
// runs (no such site, a non-canonical path, an unreadable body); and
// PaymentFailed is 402, not 403, for the refusals of a crawler's agreement
// (quota_exhausted, prepaid_exhausted).
const (
	CodePaymentRequired      Code = "payment_required"            // 402 MissingCrawlerPrice
	CodeSignatureRequired    Code = "signature_required"          // 400 StrongAuthRequired
	CodeSignatureMalformed   Code = "signature_malformed"         // 400 InvalidSignature
	CodeSignatureInvalid     Code = "signature_invalid"           // 400 InvalidSignature
	CodeSignatureExpired     Code = "signature_expired"           // 400 InvalidSignature
	CodeSignatureNotYetValid Code = "signature_not_yet_valid"     // 400 InvalidSignature
	CodeValidityTooLong      Code = "signature_validity_too_long" // 400 InvalidSignature
	CodeParamMissing         Code = "signature_param_missing"     // 400 InvalidSignature
	CodeWrongTag             Code = "signature_wrong_tag"         // 400 InvalidSignature
	CodeUnsupportedAlg       Code = "signature_unsupported_alg"   // 400 InvalidSignature
	CodeComponentNotCovered  Code = "component_not_covered"       // 400 InvalidSignature
	CodeReplay               Code = "signature_replayed"          // 400 InvalidSignature
	CodeAgentMissing         Code = "signature_agent_missing"     // 400 InvalidSignature
	CodeAgentMalformed       Code = "signature_agent_malformed"   // 400 InvalidSignature
	CodeAgentUnknown         Code = "signature_agent_unknown"     // 400 InvalidSignature
	CodeUnknownKey           Code = "unknown_key"                 // 400 InvalidSignature
	CodeHeaderTooLarge       Code = "header_too_large"            // 400 InvalidSignature
	CodePaymentMalformed     Code = "payment_malformed"           // 400 InvalidSignature
	CodePaymentConflict      Code = "payment_conflict"            // 400 ConflictingPriceHeaders
	CodeSchemeUnsupported    Code = "scheme_unsupported"          // 402 MissingCrawlerPrice
	CodeNetworkUnsupported   Code = "network_unsupported"         // 402 MissingCrawlerPrice
	CodeOfferInvalid         Code = "offer_invalid"               // 402 MissingCrawlerPrice
	CodeOfferExpired         Code = "offer_expired"               // 402 MissingCrawlerPrice
	CodePriceConflict        Code = "price_conflict"              // 400 ConflictingPriceHeaders
	CodePriceInvalid         Code = "price_invalid"               // 400 InvalidCrawlerPriceValue
	CodeCurrencyMismatch     Code = "currency_mismatch"           // 400 InvalidCrawlerPriceValue
	CodePriceNotExact        Code = "price_not_exact"             // 402 InvalidCrawlerExactPrice
	CodePriceAboveMax        Code = "price_above_max"             // 402 InvalidCrawlerMaxPrice
	CodeOverCap              Code = "spend_cap_exceeded"          // 403 PaymentFailed
	CodeQuotaExhausted       Code = "quota_exhausted"             // 402 PaymentFailed
	CodePrepaidExhausted     Code = "prepaid_exhausted"           // 402 PaymentFailed
	CodeBlocked              Code = "crawler_blocked"             // 403 CrawlerForbidden
	CodeAccountSuspended     Code = "account_suspended"           // 403 CrawlerForbidden
	CodeBillingMissing       Code = "billing_missing"             // 403 PaymentFailed
	CodeDirectoryUnavailable Code = "directory_unavailable"       // 503 InternalError
	CodeOriginError          Code = "origin_error"                // 502 InternalError
	CodeOriginTimeout        Code = "origin_timeout"              // 504 InternalError
	CodeLedgerUnavailable    Code = "ledger_unavailable"          // 503 InternalError
	CodeChargeUnconfirmed    Code = "charge_unconfirmed"          // 503 InternalError
	CodeInternal             Code = "internal_error"              // 500 InternalError
	CodeUnknownSite          Code = "unknown_site"                // 404 InvalidRequest
	CodePathNotCanonical     Code = "path_not_canonical"          // 400 InvalidRequest
	CodeBodyTooLarge         Code = "body_too_large"              // 413 InvalidRequest
	CodeBodyInvalid          Code = "invalid_body"                // 400 InvalidRequest
)

// Cloudflare pay-per-crawl crawler-error codes.
const (
	CrawlerForbidden         = "CrawlerForbidden"
	StrongAuthRequired       = "StrongAuthRequired"
	InvalidSignature         = "InvalidSignature"
	InvalidCrawlerPriceValue = "InvalidCrawlerPriceValue"
	MissingCrawlerPrice      = "MissingCrawlerPrice"
	PaymentFailed            = "PaymentFailed"
	InvalidCrawlerExactPrice = "InvalidCrawlerExactPrice"
	InvalidCrawlerMaxPrice   = "InvalidCrawlerMaxPrice"
	ConflictingPriceHeaders  = "ConflictingPriceHeaders"
	InvalidContentPrice      = "InvalidContentPrice"
	InternalError            = "InternalError"
	// InvalidRequest is paycrawl's own crawler-error code, not in
	// Cloudflare's table: the request names no site of this gateway, has a
	// non-canonical path or an unreadable body. Resending it unchanged fails
	// again.
	InvalidRequest = "InvalidRequest"
)

type codeInfo struct {
	status  int
	crawler string
	x402    string
}

var codeTable = map[Code]codeInfo{
	CodePaymentRequired:      {http.StatusPaymentRequired, MissingCrawlerPrice, ""},
	CodeSignatureRequired:    {http.StatusBadRequest, StrongAuthRequired, x402.ErrInvalidSignature},
	CodeSignatureMalformed:   {http.StatusBadRequest, InvalidSignature, x402.ErrInvalidSignature},
	CodeSignatureInvalid:     {http.StatusBadRequest, InvalidSignature, x402.ErrInvalidSignature},
	CodeSignatureExpired:     {http.StatusBadRequest, InvalidSignature, x402.ErrInvalidSignature},
	CodeSignatureNotYetValid: {http.StatusBadRequest, InvalidSignature, x402.ErrInvalidSignature},
	CodeValidityTooLong:      {http.StatusBadRequest, InvalidSignature, x402.ErrInvalidSignature},
	CodeParamMissing:         {http.StatusBadRequest, InvalidSignature, x402.ErrInvalidSignature},
	CodeWrongTag:             {http.StatusBadRequest, InvalidSignature, x402.ErrInvalidSignature},
	CodeUnsupportedAlg:       {http.StatusBadRequest, InvalidSignature, x402.ErrInvalidSignature},
	CodeComponentNotCovered:  {http.StatusBadRequest, InvalidSignature, x402.ErrInvalidSignature},
	CodeReplay:               {http.StatusBadRequest, InvalidSignature, x402.ErrInvalidSignature},
	CodeAgentMissing:         {http.StatusBadRequest, InvalidSignature, x402.ErrSignatureAgentUnknown},
	CodeAgentMalformed:       {http.StatusBadRequest, InvalidSignature, x402.ErrSignatureAgentUnknown},
	CodeAgentUnknown:         {http.StatusBadRequest, InvalidSignature, x402.ErrSignatureAgentUnknown},
	CodeUnknownKey:           {http.StatusBadRequest, InvalidSignature, x402.ErrSignatureAgentUnknown},
	CodeHeaderTooLarge:       {http.StatusBadRequest, InvalidSignature, x402.ErrInvalidPaymentSignature},
	CodePaymentMalformed:     {http.StatusBadRequest, InvalidSignature, x402.ErrInvalidPaymentSignature},
	CodePaymentConflict:      {http.StatusBadRequest, ConflictingPriceHeaders, x402.ErrInvalidPaymentSignature},
	CodeSchemeUnsupported:    {http.StatusPaymentRequired, MissingCrawlerPrice, x402.ErrInvalidPaymentSignature},
	CodeNetworkUnsupported:   {http.StatusPaymentRequired, MissingCrawlerPrice, x402.ErrInvalidPaymentSignature},
	CodeOfferInvalid:         {http.StatusPaymentRequired, MissingCrawlerPrice, x402.ErrInvalidPaymentSignature},
	CodeOfferExpired:         {http.StatusPaymentRequired, MissingCrawlerPrice, x402.ErrPriceNotAcceptable},
	CodePriceConflict:        {http.StatusBadRequest, ConflictingPriceHeaders, x402.ErrPriceNotAcceptable},
	CodePriceInvalid:         {http.StatusBadRequest, InvalidCrawlerPriceValue, x402.ErrPriceNotAcceptable},
	// A price in another currency is a malformed price for this resource:
	// 400, as Cloudflare answers InvalidCrawlerPriceValue.
	CodeCurrencyMismatch: {http.StatusBadRequest, InvalidCrawlerPriceValue, x402.ErrPriceNotAcceptable},
	CodePriceNotExact:    {http.StatusPaymentRequired, InvalidCrawlerExactPrice, x402.ErrPriceNotAcceptable},
	CodePriceAboveMax:    {http.StatusPaymentRequired, InvalidCrawlerMaxPrice, x402.ErrPriceNotAcceptable},
	// The crawler's own daily cap is reached: PaymentFailed, 403 as in
	// Cloudflare's table (no offer would help until the cap resets).
	CodeOverCap: {http.StatusForbidden, PaymentFailed, x402.ErrPaymentFailed},
	// The crawler's agreement with the publisher stops the request: a
	// hard-stop subscription's quota for the period is used up, or the
	// prepaid balance is below the request's price. 402, as issue 20 asks
	// (Cloudflare's PaymentFailed is 403): it is payable again after a
	// top-up or in the next period, never by answering an offer, so the
	// refusal carries none.
	CodeQuotaExhausted:   {http.StatusPaymentRequired, PaymentFailed, x402.ErrPaymentFailed},
	CodePrepaidExhausted: {http.StatusPaymentRequired, PaymentFailed, x402.ErrPaymentFailed},
	CodeBlocked:          {http.StatusForbidden, CrawlerForbidden, x402.ErrBlocked},
	CodeAccountSuspended: {http.StatusForbidden, CrawlerForbidden, x402.ErrBlocked},
	CodeBillingMissing:   {http.StatusForbidden, PaymentFailed, x402.ErrPaymentFailed},
	// InternalError is 500 in Cloudflare's table; the codes below keep the
	// status that says whose failure it was and that a retry may succeed:
	// 503 (with Retry-After) for a directory or the ledger out of reach,
	// 502 and 504 for the origin (Caddy's and nginx's convention).
	CodeDirectoryUnavailable: {http.StatusServiceUnavailable, InternalError, x402.ErrSignatureAgentUnknown},
	CodeOriginError:          {http.StatusBadGateway, InternalError, x402.ErrOriginError},
	CodeOriginTimeout:        {http.StatusGatewayTimeout, InternalError, x402.ErrOriginError},
	CodeLedgerUnavailable:    {http.StatusServiceUnavailable, InternalError, x402.ErrUnknown},
	// The ledger neither confirmed nor refused the commitment: it may have
	// been recorded, though nothing of the page was sent.
	CodeChargeUnconfirmed: {http.StatusServiceUnavailable, InternalError, x402.ErrUnknown},
	CodeInternal:          {http.StatusInternalServerError, InternalError, x402.ErrUnknown},
	// Refused before any payment is considered.
	CodeUnknownSite:      {http.StatusNotFound, InvalidRequest, x402.ErrUnknown},
	CodePathNotCanonical: {http.StatusBadRequest, InvalidRequest, x402.ErrUnknown},
	CodeBodyTooLarge:     {http.StatusRequestEntityTooLarge, InvalidRequest, x402.ErrUnknown},
	CodeBodyInvalid:      {http.StatusBadRequest, InvalidRequest, x402.ErrUnknown},
}

func (c Code) info() codeInfo {
	if i, ok := codeTable[c]; ok {
		return i
	}
	return codeTable[CodeInternal]
}

// Status is the HTTP status a refusal with this code is answered with.
func (c Code) Status() int { return c.info().status }

// CrawlerError is the value of the crawler-error response header for c.
func (c Code) CrawlerError() string { return c.info().crawler }

// X402 is the x402 error code for c, or "" for a plain payment challenge.
func (c Code) X402() string { return c.info().x402 }

// Error is a refusal: a code and a message for the people reading it.
type Error struct {
	Code    Code
	Message string
	Err     error
}

// Errorf builds an *Error; a %w verb in format wraps its operand.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// Error implements error.
func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Message
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ErrReplay) matches any replay refusal whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is; any *Error with the same code matches.
var (
	ErrReplay          = &Error{Code: CodeReplay}
	ErrUnknownKey      = &Error{Code: CodeUnknownKey}
	ErrAgentUnknown    = &Error{Code: CodeAgentUnknown}
	ErrOfferExpired    = &Error{Code: CodeOfferExpired}
	ErrOfferInvalid    = &Error{Code: CodeOfferInvalid}
	ErrPriceAboveMax   = &Error{Code: CodePriceAboveMax}
	ErrSignatureNeeded = &Error{Code: CodeSignatureRequired}
)

// CodeOf returns the code of the first *Error in err's chain, or CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// MessageOf returns the message of the first *Error in err's chain, the
// one text of a refusal fit to show a client, and true; for any other
// error (whose text may name internal hosts or addresses, to be logged,
// never sent) it returns "internal error" and false.
func MessageOf(err error) (string, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Message, true
	}
	return "internal error", false
}
