// Package x402 holds the wire types of the x402 payment protocol, version 1
// (JSON body, X-PAYMENT headers) and version 2 (base64 JSON headers
// PAYMENT-REQUIRED, PAYMENT-SIGNATURE, PAYMENT-RESPONSE), and their header
// encoding. It imports nothing beyond the standard library's encoding
// packages, so that any client or server can share it.
//
// Amounts on the wire are strings of whole atomic units of the asset; what
// one atomic unit is belongs to the network binding, not to this package:
// one micro-unit (10^-6 of the currency) on paycrawl's network
// "paycrawl:402" (docs/x402-binding-paycrawl.md), one cent on Cloudflare's
// "cloudflare:402". The types here keep amounts as the strings they are.
package x402

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// Header names of x402 version 2, and the version 1 names accepted on input.
const (
	HeaderPaymentRequired  = "PAYMENT-REQUIRED"
	HeaderPaymentSignature = "PAYMENT-SIGNATURE"
	HeaderPaymentResponse  = "PAYMENT-RESPONSE"

	HeaderV1Payment         = "X-PAYMENT"
	HeaderV1PaymentResponse = "X-PAYMENT-RESPONSE"
)

// Error codes of the batch-settlement scheme, used in PaymentRequired.Error
// and SettleResponse.ErrorReason.
const (
	ErrBlocked                 = "blocked"
	ErrPriceNotAcceptable      = "price_not_acceptable"
	ErrPaymentFailed           = "payment_failed"
	ErrInvalidSignature        = "invalid_signature"
	ErrSignatureAgentUnknown   = "signature_agent_unknown"
	ErrInvalidPaymentSignature = "invalid_payment_signature"
	ErrOriginError             = "origin_error"
	ErrUnknown                 = "unknown"
)

// ExtensionHTTPMessageSignatures is the key of the http-message-signatures
// extension (specs/extensions/http-message-signatures.md): the paying agent
// is identified by an RFC 9421 signature, and Info says where to register it.
const ExtensionHTTPMessageSignatures = "http-message-signatures"

// HTTPMessageSignaturesInfo is the info of the http-message-signatures
// extension. The spec requires all three fields; its schema may be left out
// to keep the header small.
type HTTPMessageSignaturesInfo struct {
	RegistrationURL  string   `json:"registrationUrl,omitempty"`
	SignatureSchemes []string `json:"signatureSchemes"`
	Tags             []string `json:"tags"`
}

// Resource describes the priced resource of a version 2 PaymentRequired.
type Resource struct {
	URL         string `json:"url"`
	Description string `json:"description,omitempty"`
	MimeType    string `json:"mimeType,omitempty"`
}

// PaymentRequirements is one way to pay that a server accepts (version 2).
// Amount counts atomic units of Asset in the unit the Network's binding
// defines. Version 2 requires MaxTimeoutSeconds; a Cloudflare offer may
// leave it out, meaning no price guarantee.
type PaymentRequirements struct {
	Scheme            string         `json:"scheme"`
	Network           string         `json:"network"`
	Amount            string         `json:"amount"`
	Asset             string         `json:"asset"`
	PayTo             string         `json:"payTo"`
	MaxTimeoutSeconds int            `json:"maxTimeoutSeconds,omitempty"`
	Extra             map[string]any `json:"extra,omitempty"`
}

// PaymentRequired is the version 2 402 answer, sent base64-encoded in the
// PAYMENT-REQUIRED header.
type PaymentRequired struct {
	X402Version int                   `json:"x402Version"`
	Error       string                `json:"error,omitempty"`
	Resource    *Resource             `json:"resource,omitempty"`
	Accepts     []PaymentRequirements `json:"accepts"`
	Extensions  map[string]any        `json:"extensions,omitempty"`
}

// PaymentPayload is the client's payment, sent base64-encoded in the
// PAYMENT-SIGNATURE header (version 2).
type PaymentPayload struct {
	X402Version int                 `json:"x402Version"`
	Resource    *Resource           `json:"resource,omitempty"`
	Accepted    PaymentRequirements `json:"accepted"`
	Payload     map[string]any      `json:"payload"`
	Extensions  map[string]any      `json:"extensions,omitempty"`
}

// SettleResponse is the server's settlement result, sent base64-encoded in the
// PAYMENT-RESPONSE header.
type SettleResponse struct {
	Success     bool           `json:"success"`
	ErrorReason string         `json:"errorReason,omitempty"`
	Payer       string         `json:"payer,omitempty"`
	Transaction string         `json:"transaction"`
	Network     string         `json:"network"`
	Amount      string         `json:"amount,omitempty"`
	Asset       string         `json:"asset,omitempty"`
	Extra       map[string]any `json:"extra,omitempty"`
	Extensions  map[string]any `json:"extensions,omitempty"`
}

// V1Requirements is one entry of a version 1 402 body's accepts list.
type V1Requirements struct {
	Scheme            string `json:"scheme"`
	Network           string `json:"network"`
	Resource          string `json:"resource"`
	MaxAmountRequired string `json:"maxAmountRequired"`
	Asset             string `json:"asset"`
	PayTo             string `json:"payTo"`
	// Description is required by x402 version 1 (an empty string is allowed).
	Description       string         `json:"description"`
	MimeType          string         `json:"mimeType,omitempty"`
	MaxTimeoutSeconds int            `json:"maxTimeoutSeconds,omitempty"`
	Extra             map[string]any `json:"extra,omitempty"`
}

// UnmarshalJSON accepts the "extras" spelling of the Cloudflare blog post as
// well as the x402 field name "extra".
func (r *V1Requirements) UnmarshalJSON(b []byte) error {
	type plain V1Requirements
	var aux struct {
		plain
		Extras map[string]any `json:"extras"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*r = V1Requirements(aux.plain)
	if r.Extra == nil && aux.Extras != nil {
		r.Extra = aux.Extras
	}
	return nil
}

// V1PaymentRequired is the version 1 402 JSON body.
type V1PaymentRequired struct {
	X402Version int              `json:"x402Version"`
	Error       string           `json:"error"`
	Accepts     []V1Requirements `json:"accepts"`
}

// MaxHeaderLen bounds the encoded headers this package decodes.
const MaxHeaderLen = 8 << 10

// ErrHeaderTooLong reports an encoded header over MaxHeaderLen bytes.
var ErrHeaderTooLong = errors.New("x402: header too long")

// Encode marshals v as JSON and encodes it in standard padded base64, the
// form of the version 2 headers.
func Encode(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// Decode reads a version 2 header into v. It accepts standard base64 with or
// without padding, and the URL-safe alphabet, since clients differ.
func Decode(header string, v any) error {
	if len(header) > MaxHeaderLen {
		return ErrHeaderTooLong
	}
	raw, err := decodeBase64(header)
	if err != nil {
		return fmt.Errorf("x402: invalid base64: %w", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("x402: invalid JSON: %w", err)
	}
	return nil
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return nil, err
}
