package refusals

import "github.com/paycrawl/paycrawl/pkg/deferred"

// Reasons a publisher sees a refusal counted under.
const (
	// ReasonBlocked: the site's rules block the crawler, or its account is
	// suspended (crawler_blocked, account_suspended).
	ReasonBlocked = "blocked"
	// ReasonOverCap: the crawler's own daily spend cap is reached
	// (spend_cap_exceeded, from the paywall's pre-check or the ledger).
	ReasonOverCap = "over_cap"
	// ReasonBadSignature: no signature that proves who sent the request: a
	// payment without a signature, a signature that is malformed, invalid,
	// expired, not yet valid, valid too long, missing a parameter or a
	// covered component, of an unknown key, agent or algorithm, or replayed
	// (signature_*, component_not_covered, unknown_key, header_too_large).
	ReasonBadSignature = "bad_signature"
	// ReasonPrice: a payment the gateway cannot accept for this resource: a
	// malformed or conflicting payment or price, an unknown scheme or
	// network, an invalid or expired offer, a price above the crawler's
	// maximum or not the exact one (payment_malformed, payment_conflict,
	// scheme_unsupported, network_unsupported, offer_*, price_*,
	// currency_mismatch).
	ReasonPrice = "price"
	// ReasonBilling: the crawler has no billing profile (billing_missing).
	ReasonBilling = "billing"
)

// Reserved crawler buckets. Operator account ids are "op_" and 16 base32
// characters, so neither can name an account.
const (
	// Unverified counts the refusals of requests no proven crawler identity
	// stands behind: unsigned ones, ones whose signature did not verify, and
	// replays (a replayed signature verifies, but anyone who saw it can
	// send it again, so it proves nothing about the sender). Their claimed
	// account is never recorded: crediting it would let anyone smear an
	// operator.
	Unverified = "unverified"
	// Others counts a day's refusals of verified crawlers beyond the
	// per-publisher-day bound (Options.MaxFields).
	Others = "others"
)

// reasons maps each counted refusal code to its reason. Codes not in the
// table are not counted: an offer (payment_required) is not a refusal,
// failures of the gateway or its dependencies (directory, ledger, origin,
// internal errors) are the operator's metrics (paycrawl_gateway_requests_total),
// not the crawler's doing, and requests refused before any site or crawler
// is considered (unknown_site, path_not_canonical, body_too_large,
// invalid_body) are malformed, whoever sent them.
var reasons = map[deferred.Code]string{
	deferred.CodeBlocked:          ReasonBlocked,
	deferred.CodeAccountSuspended: ReasonBlocked,

	deferred.CodeOverCap: ReasonOverCap,

	deferred.CodeSignatureRequired:    ReasonBadSignature,
	deferred.CodeSignatureMalformed:   ReasonBadSignature,
	deferred.CodeSignatureInvalid:     ReasonBadSignature,
	deferred.CodeSignatureExpired:     ReasonBadSignature,
	deferred.CodeSignatureNotYetValid: ReasonBadSignature,
	deferred.CodeValidityTooLong:      ReasonBadSignature,
	deferred.CodeParamMissing:         ReasonBadSignature,
	deferred.CodeWrongTag:             ReasonBadSignature,
	deferred.CodeUnsupportedAlg:       ReasonBadSignature,
	deferred.CodeComponentNotCovered:  ReasonBadSignature,
	deferred.CodeReplay:               ReasonBadSignature,
	deferred.CodeAgentMissing:         ReasonBadSignature,
	deferred.CodeAgentMalformed:       ReasonBadSignature,
	deferred.CodeAgentUnknown:         ReasonBadSignature,
	deferred.CodeUnknownKey:           ReasonBadSignature,
	deferred.CodeHeaderTooLarge:       ReasonBadSignature,

	deferred.CodePaymentMalformed:   ReasonPrice,
	deferred.CodePaymentConflict:    ReasonPrice,
	deferred.CodeSchemeUnsupported:  ReasonPrice,
	deferred.CodeNetworkUnsupported: ReasonPrice,
	deferred.CodeOfferInvalid:       ReasonPrice,
	deferred.CodeOfferExpired:       ReasonPrice,
	deferred.CodePriceConflict:      ReasonPrice,
	deferred.CodePriceInvalid:       ReasonPrice,
	deferred.CodeCurrencyMismatch:   ReasonPrice,
	deferred.CodePriceNotExact:      ReasonPrice,
	deferred.CodePriceAboveMax:      ReasonPrice,

	deferred.CodeBillingMissing: ReasonBilling,
}

// ReasonOf returns the reason a refusal with code is counted under, and
// false for a code that is not counted.
func ReasonOf(code deferred.Code) (string, bool) {
	r, ok := reasons[code]
	return r, ok
}

// Attribute returns the crawler bucket a refusal of code is counted in:
// account, the operator whose key verified the request's signature ("" for
// none), or Unverified when no proven identity stands behind the request.
// A bad_signature refusal is never credited to an account, not even a
// replay whose signature verified.
func Attribute(account string, code deferred.Code) string {
	if account == "" || reasons[code] == ReasonBadSignature || !validAccount(account) {
		return Unverified
	}
	return account
}

// validAccount reports whether account can be a field's first part: no
// separator, no reserved name, bounded length.
func validAccount(a string) bool {
	if len(a) > 64 || a == Unverified || a == Others {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] == sep || a[i] < 0x21 || a[i] > 0x7e {
			return false
		}
	}
	return true
}
