// Package keydir is the client side of the key directory API
// (pkg/registry/api): its request and response types and a typed Client.
// It has no server code, so crawler tools link only what they use.
package keydir

import (
	"encoding/json"
	"time"

	"github.com/paycrawl/paycrawl/pkg/registry"
)

// SignUpRequest is the body of POST /v1/operators.
type SignUpRequest struct {
	Name    string `json:"name"`
	Contact string `json:"contact"`
}

// SignUpResponse answers a sign-up. Token is shown this once.
type SignUpResponse struct {
	Operator OperatorJSON `json:"operator"`
	Token    string       `json:"token"`
	Warning  string       `json:"warning"`
}

// OperatorJSON is an operator as the API shows it.
type OperatorJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Contact string `json:"contact"`
	Status  string `json:"status"`
	Created string `json:"created"`
	// AgentURL is the operator's hosted agent: put it in Signature-Agent.
	AgentURL string                `json:"agent_url"`
	Billing  *registry.BillingJSON `json:"billing,omitempty"`
}

// KeyJSON is a registered key as the API shows it.
type KeyJSON struct {
	KeyID      string          `json:"keyid"`
	Status     string          `json:"status"`
	Created    string          `json:"created"`
	ValidUntil string          `json:"valid_until,omitempty"`
	Revoked    string          `json:"revoked,omitempty"`
	JWK        json.RawMessage `json:"jwk"`
	// DirectoryProof is the key's own possession proof that the hosted
	// directory serves with it (authority, created, expires, signature);
	// absent when the key has none, and then verifiers that use proven
	// keys only (Cloudflare's) ignore the key.
	DirectoryProof *registry.DirectoryProof `json:"directory_proof,omitempty"`
}

// KeysResponse answers GET /v1/keys.
type KeysResponse struct {
	Keys []KeyJSON `json:"keys"`
}

// RotateRequest is the body of POST /v1/keys/rotate: the new key's proof and
// how long the replaced keys stay valid, a Go duration ("24h"; "" means
// 24 h, at most 168 h).
type RotateRequest struct {
	registry.Proof
	Overlap string `json:"overlap,omitempty"`
}

// RotateResponse answers a rotation.
type RotateResponse struct {
	Key     KeyJSON  `json:"key"`
	Rotated []string `json:"rotated"`
	// ValidUntil is when the rotated keys stop being accepted.
	ValidUntil string `json:"valid_until"`
}

// AgentRequest is the body of POST /v1/agents.
type AgentRequest struct {
	URL string `json:"url"`
}

// AgentJSON is an agent URL of an operator.
type AgentJSON struct {
	URL    string `json:"url"`
	Hosted bool   `json:"hosted"`
}

// AgentsResponse answers GET /v1/agents.
type AgentsResponse struct {
	Agents []AgentJSON `json:"agents"`
}

// EVMInstructions tell an operator on the evm rail what to approve.
type EVMInstructions struct {
	// SettlerAddress is the spender to approve an allowance to.
	SettlerAddress string `json:"settler_address"`
	// TokenAddress is the ERC-20 (USDC) contract the allowance is on.
	TokenAddress string `json:"token_address"`
	ChainID      int64  `json:"chain_id,omitempty"`
	Note         string `json:"note"`
}

// WalletClaimResponse answers GET
// /v1/operators/me/billing/wallet-proof?wallet=0x…: the message the wallet
// signs (EIP-191 personal_sign) to pay for the operator, and its fields.
// Send the fields back as BillingJSON.WalletProof with the signature,
// before ExpiresAt.
type WalletClaimResponse struct {
	// Message is the exact text to sign (registry.WalletClaim.Message).
	Message string                   `json:"message"`
	Proof   registry.WalletProofJSON `json:"wallet_proof"`
	// ExpiresAt is when the key directory stops accepting the proof.
	ExpiresAt string `json:"expires_at"`
}

// BillingResponse answers PUT /v1/operators/me/billing.
type BillingResponse struct {
	Billing registry.BillingJSON `json:"billing"`
	EVM     *EVMInstructions     `json:"evm,omitempty"`
}

// OperatorsResponse answers GET /v1/admin/operators.
type OperatorsResponse struct {
	Operators []OperatorJSON `json:"operators"`
	Total     int64          `json:"total"`
	// NextOffset is the offset of the next page, absent on the last.
	NextOffset *int `json:"next_offset,omitempty"`
}

// JWKS is the body of a hosted directory.
type JWKS struct {
	Keys []json.RawMessage `json:"keys"`
}

// UsageResponse is an operator's usage and invoices for one day. Amounts
// are decimal strings.
type UsageResponse struct {
	Day      string         `json:"day"`
	Operator string         `json:"operator"`
	Closed   bool           `json:"closed"`
	Totals   []UsageTotal   `json:"totals"`
	Sites    []UsageSite    `json:"sites"`
	Invoices []UsageInvoice `json:"invoices"`
}

// UsageTotal is a day's total in one currency.
type UsageTotal struct {
	Currency string `json:"currency"`
	Requests int64  `json:"requests"`
	Amount   string `json:"amount"`
}

// UsageSite is a day's usage of one publisher's site.
type UsageSite struct {
	Publisher string `json:"publisher"`
	Site      string `json:"site"`
	Currency  string `json:"currency"`
	Requests  int64  `json:"requests"`
	Amount    string `json:"amount"`
}

// UsageInvoice is the invoice of the day in one currency.
type UsageInvoice struct {
	ID         string `json:"id"`
	Currency   string `json:"currency"`
	Status     string `json:"status"`
	Total      string `json:"total"`
	CarriedIn  string `json:"carried_in"`
	Charged    string `json:"charged"`
	CarriedOut string `json:"carried_out"`
	Rail       string `json:"rail,omitempty"`
	Reference  string `json:"reference,omitempty"`
}

// CommitmentsResponse is one page of an operator's commitments of a day,
// in the order the ledger recorded them.
type CommitmentsResponse struct {
	Day         string           `json:"day"`
	Operator    string           `json:"operator"`
	Commitments []CommitmentJSON `json:"commitments"`
	// Next is the after of the next page; empty on the last.
	Next string `json:"next,omitempty"`
}

// CommitmentJSON is one recorded commitment, as a crawler reconciles it.
type CommitmentJSON struct {
	// ID is the commitment id, as in the receipt of the response.
	ID string `json:"id"`
	// RequestID is the gateway's id of the request (its X-Request-Id).
	RequestID string    `json:"request_id"`
	Received  time.Time `json:"received"`
	Site      string    `json:"site"`
	Path      string    `json:"path"`
	// Price is a decimal string in Currency.
	Price    string `json:"price"`
	Currency string `json:"currency"`
	// SignatureID names the request's signature (deferred.SignatureID).
	SignatureID string `json:"signature_id"`
}
