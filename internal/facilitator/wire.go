package facilitator

import (
	"encoding/json"

	"github.com/paycrawl/paycrawl/pkg/x402"
)

// ExtensionSignedRequest is the key, in a PaymentPayload's extensions, of
// the crawler's signed HTTP request as the resource server received it
// (docs/x402-binding-paycrawl.md §10).
const ExtensionSignedRequest = "signed-request"

// SignedRequest is the value of the signed-request extension: what the
// facilitator needs to verify the crawler's HTTP message signature
// exactly as the gateway verifies it.
type SignedRequest struct {
	// Method is the request's method ("GET").
	Method string `json:"method"`
	// URL is the absolute URL the crawler addressed: the scheme the
	// resource server is reached by, the Host header, the path and query
	// as received.
	URL string `json:"url"`
	// Headers holds, by lower-case name, the field values as received of
	// every header the signature covers, Signature-Input and Signature;
	// PAYMENT-SIGNATURE is required, byte for byte.
	Headers map[string]string `json:"headers"`
}

// Request is the body of POST /verify and POST /settle (x402 v2 §7.1).
type Request struct {
	X402Version         int                       `json:"x402Version"`
	PaymentPayload      *PaymentPayload           `json:"paymentPayload"`
	PaymentRequirements *x402.PaymentRequirements `json:"paymentRequirements"`
}

// PaymentPayload is x402's PaymentPayload with its extensions kept raw, so
// that the signed-request extension is read strictly and others are
// ignored.
type PaymentPayload struct {
	X402Version int                        `json:"x402Version"`
	Resource    *x402.Resource             `json:"resource,omitempty"`
	Accepted    x402.PaymentRequirements   `json:"accepted"`
	Payload     map[string]any             `json:"payload"`
	Extensions  map[string]json.RawMessage `json:"extensions,omitempty"`
}

// VerifyResponse is the answer of POST /verify (x402 v2 §5.4).
type VerifyResponse struct {
	IsValid        bool           `json:"isValid"`
	InvalidReason  string         `json:"invalidReason,omitempty"`
	InvalidMessage string         `json:"invalidMessage,omitempty"`
	Payer          string         `json:"payer,omitempty"`
	Extra          map[string]any `json:"extra,omitempty"`
}

// SettleResponse is the answer of POST /settle (x402 v2 §5.3), with the
// message of a failure.
type SettleResponse struct {
	x402.SettleResponse
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// SupportedKind is one entry of GET /supported's kinds (x402 v2 §7.3).
type SupportedKind struct {
	X402Version int            `json:"x402Version"`
	Scheme      string         `json:"scheme"`
	Network     string         `json:"network"`
	Extra       map[string]any `json:"extra,omitempty"`
}

// SupportedResponse is the answer of GET /supported.
type SupportedResponse struct {
	Kinds      []SupportedKind     `json:"kinds"`
	Extensions []string            `json:"extensions"`
	Signers    map[string][]string `json:"signers"`
}
