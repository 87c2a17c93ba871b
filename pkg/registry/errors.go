package registry

import "errors"

// Sentinel errors. Every error the registry returns for a refused operation
// wraps exactly one of them (match with errors.Is); the text after the
// sentinel's own says what was wrong. Anything else is a storage failure.
var (
	// ErrInvalid reports bad input: a name, a contact, a duration, an amount.
	ErrInvalid = errors.New("invalid request")
	// ErrInvalidJWK reports a JWK that is not a JSON public key, or one that
	// carries private material.
	ErrInvalidJWK = errors.New("invalid JWK")
	// ErrNotEd25519 reports a well-formed JWK of another key type.
	ErrNotEd25519 = errors.New("key is not Ed25519")
	// ErrBadProof reports a proof of possession that does not verify, or
	// whose timestamp is outside the accepted window.
	ErrBadProof = errors.New("bad proof of possession")
	// ErrBadDirectoryProof reports a key's directory proof (DirectoryProof)
	// that is malformed, does not verify with the key, is dated in the
	// future or is valid too long.
	ErrBadDirectoryProof = errors.New("bad directory proof")
	// ErrDirectoryProofAuthority reports a directory proof signed for
	// another authority than the operator's hosted directory.
	ErrDirectoryProofAuthority = errors.New("directory proof for another authority")
	// ErrDirectoryProofExpired reports a directory proof whose expires has
	// passed.
	ErrDirectoryProofExpired = errors.New("directory proof expired")
	// ErrInvalidBilling reports a billing profile that cannot be used.
	ErrInvalidBilling = errors.New("invalid billing profile")
	// ErrWalletProofRequired reports an evm billing profile without a proof
	// that the wallet belongs to the operator (see WalletClaim.Message):
	// a new wallet, or a profile stored before wallet proofs existed.
	ErrWalletProofRequired = errors.New("wallet proof required")
	// ErrBadWalletProof reports a wallet proof that is malformed, names
	// another account, wallet or purpose, or was not signed by the wallet's
	// own key.
	ErrBadWalletProof = errors.New("bad wallet proof")
	// ErrWalletProofExpired reports a wallet proof issued too long ago, or
	// in the future.
	ErrWalletProofExpired = errors.New("wallet proof expired")
	// ErrWalletProofDomain reports a wallet proof for another chain or
	// settler than the configured ones.
	ErrWalletProofDomain = errors.New("wallet proof for another chain or settler")
	// ErrRailNotConfigured reports a billing rail this service is not set
	// up for (no Stripe key, no evm chain and settler).
	ErrRailNotConfigured = errors.New("billing rail not configured")
	// ErrInvalidAgent reports an agent URL that cannot be registered.
	ErrInvalidAgent = errors.New("invalid agent URL")
	// ErrUnauthorized reports a missing, malformed or unknown API token.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden reports an operation on another operator's resource.
	ErrForbidden = errors.New("forbidden")
	// ErrSuspended reports an operation refused because the operator is
	// suspended.
	ErrSuspended = errors.New("operator suspended")
	// ErrKeyUnusable reports a key a signature may not be verified with: not
	// registered, registered by another operator, revoked, or past its
	// rotation overlap.
	ErrKeyUnusable = errors.New("key not usable")
	// ErrNoBilling reports an operator without a billing profile.
	ErrNoBilling = errors.New("no billing profile")
	// ErrNotFound reports an operator, key or agent that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists reports an id that is taken, such as a publisher id.
	ErrExists = errors.New("already exists")
	// ErrDuplicateKey reports a keyid that was registered before, by anyone.
	ErrDuplicateKey = errors.New("key already registered")
	// ErrAgentTaken reports an agent URL registered by another operator.
	ErrAgentTaken = errors.New("agent URL registered by another operator")
	// ErrLimit reports an operator at its limit of usable keys or agents.
	ErrLimit = errors.New("limit reached")
	// ErrTooManyOffers reports a publisher with MaxPendingOffers offers
	// pending with one account: it may offer again once the account
	// decided one or it withdrew one.
	ErrTooManyOffers = errors.New("too many pending offers")
	// ErrRateLimited reports too many sign-ups from one address.
	ErrRateLimited = errors.New("rate limited")
	// ErrBillingProvider reports a failure of the payment provider (Stripe)
	// while setting up billing.
	ErrBillingProvider = errors.New("billing provider error")
	// ErrAgreementState reports a decision on an agreement version that is
	// not its latest or is no longer offered (accepted, declined, withdrawn,
	// superseded): versions are never decided twice.
	ErrAgreementState = errors.New("agreement version not open to this decision")
	// ErrHostTaken reports a host that another publisher holds: each host
	// is one publisher's at most.
	ErrHostTaken = errors.New("host held by another publisher")
	// ErrHostNotYours reports an agreement offered for a host that is not
	// the offering publisher's (SetPublisherHosts); it comes with
	// ErrForbidden, which it refines.
	ErrHostNotYours = errors.New("host not the publisher's")
	// ErrHostMoved reports the acceptance of an offer naming a host that
	// its publisher no longer holds (the admin moved or removed it since
	// the offer).
	ErrHostMoved = errors.New("host no longer the publisher's")
	// ErrUnavailable reports that Redis could not be reached or answered
	// with an error.
	ErrUnavailable = errors.New("registry unavailable")
)
