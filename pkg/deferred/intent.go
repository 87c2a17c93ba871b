package deferred

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/dunglas/httpsfv"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/x402"
)

// Request headers that carry a payment intent.
const (
	HeaderPayment           = "Payment"
	HeaderCrawlerExactPrice = "crawler-exact-price"
	HeaderCrawlerMaxPrice   = "crawler-max-price"
)

// Schemes this package speaks.
const (
	SchemeDeferred        = "deferred"
	SchemeBatchSettlement = "batch-settlement"
	// SchemeUpto authorizes up to an amount; what is settled is the price.
	SchemeUpto = "upto"
)

// Dialect says which protocol a payment intent came in.
type Dialect string

// The dialects.
const (
	// DialectDeferred is the seed's Payment structured header.
	DialectDeferred Dialect = "deferred"
	// DialectX402 is x402's PAYMENT-SIGNATURE (or version 1 X-PAYMENT) header.
	DialectX402 Dialect = "x402"
	// DialectCrawlerPrice is Cloudflare's crawler-exact-price / crawler-max-price.
	DialectCrawlerPrice Dialect = "crawler-price"
)

// Intent is a request's commitment to pay, whatever the dialect it came in.
type Intent struct {
	Dialect Dialect
	// Header is the lower-case name of the header that carries the intent;
	// the request's signature must cover it.
	Header string
	// Scheme is "deferred", "batch-settlement" or "upto"; "" for the
	// crawler-price dialect.
	Scheme string
	// Network is the network id the client named, if any.
	Network string
	// PayTo is the recipient the client's x402 payment names, if any.
	PayTo string
	// OfferID is the id of the 402 offer the client accepts, if any.
	OfferID string
	// Price is the amount the client commits to: exactly (Exact) or at most.
	// An x402 amount is always a ceiling, read in its network's unit.
	// HasPrice is false when the client accepts an offer without restating its
	// price (the Payment header); the offer id then binds the price.
	Price    money.Amount
	HasPrice bool
	Exact    bool
}

// ParseIntent reads the payment intent of a request. It returns nil, nil
// when the request carries none. A request may carry one dialect only; the
// two Cloudflare price headers together are a ConflictingPriceHeaders error.
func ParseIntent(h http.Header) (*Intent, error) {
	var buf [4]string
	found := buf[:0]
	for _, name := range [...]string{HeaderPayment, x402.HeaderPaymentSignature, x402.HeaderV1Payment} {
		if len(headerValues(h, name)) > 0 {
			found = append(found, name)
		}
	}
	exact, maxp := headerValues(h, HeaderCrawlerExactPrice), headerValues(h, HeaderCrawlerMaxPrice)
	if len(exact) > 0 && len(maxp) > 0 {
		return nil, Errorf(CodePriceConflict, "send crawler-exact-price or crawler-max-price, not both")
	}
	if len(exact) > 0 || len(maxp) > 0 {
		found = append(found, "crawler-*-price")
	}
	switch {
	case len(found) == 0:
		return nil, nil
	case len(found) > 1:
		return nil, Errorf(CodePaymentConflict, "the request carries %s: send one payment dialect", strings.Join(found, " and "))
	}
	switch found[0] {
	case HeaderPayment:
		return parsePaymentHeader(headerValues(h, HeaderPayment))
	case x402.HeaderPaymentSignature:
		return parsePaymentSignature(headerValues(h, x402.HeaderPaymentSignature), "payment-signature")
	case x402.HeaderV1Payment:
		return parsePaymentSignature(headerValues(h, x402.HeaderV1Payment), "x-payment")
	}
	if len(exact) > 0 {
		return parsePriceHeader(exact, HeaderCrawlerExactPrice, true)
	}
	return parsePriceHeader(maxp, HeaderCrawlerMaxPrice, false)
}

func joinedLen(values []string) int {
	n := 0
	for _, v := range values {
		n += len(v)
	}
	return n
}

// parsePaymentHeader reads `Payment: scheme="deferred", network="…", id="…"`.
func parsePaymentHeader(values []string) (*Intent, error) {
	if joinedLen(values) > maxFieldLen {
		return nil, Errorf(CodeHeaderTooLarge, "Payment header over %d bytes", maxFieldLen)
	}
	dict, err := httpsfv.UnmarshalDictionary(values)
	if err != nil {
		return nil, Errorf(CodePaymentMalformed, "Payment is not a structured-field dictionary: %v", err)
	}
	get := func(name string) (string, error) {
		m, ok := dict.Get(name)
		if !ok {
			return "", nil
		}
		item, ok := m.(httpsfv.Item)
		if !ok {
			return "", Errorf(CodePaymentMalformed, "Payment member %s must be a string", name)
		}
		switch v := item.Value.(type) {
		case string:
			return v, nil
		case httpsfv.Token:
			return string(v), nil
		}
		return "", Errorf(CodePaymentMalformed, "Payment member %s must be a string", name)
	}
	in := &Intent{Dialect: DialectDeferred, Header: "payment"}
	if in.Scheme, err = get("scheme"); err != nil {
		return nil, err
	}
	if in.Network, err = get("network"); err != nil {
		return nil, err
	}
	if in.OfferID, err = get("id"); err != nil {
		return nil, err
	}
	if in.Scheme != SchemeDeferred {
		return nil, Errorf(CodeSchemeUnsupported, "Payment scheme %q: only \"deferred\" is accepted", in.Scheme)
	}
	if in.OfferID == "" {
		return nil, Errorf(CodePaymentMalformed, "Payment has no id: echo the id of the 402 offer")
	}
	return in, nil
}

// parsePaymentSignature reads a base64 JSON PaymentPayload (x402 version 2;
// version 1 payloads under X-PAYMENT are read as far as they carry the same
// fields). Its amount is read in the unit of the network it names
// (NetworkDecimals) and is a ceiling: the client commits to pay at most that
// much (Exact is false), whatever the scheme.
func parsePaymentSignature(values []string, header string) (*Intent, error) {
	if len(values) != 1 {
		return nil, Errorf(CodePaymentMalformed, "%s: want exactly one value, got %d", header, len(values))
	}
	var p struct {
		x402.PaymentPayload
		// Version 1 fields.
		Scheme  string `json:"scheme"`
		Network string `json:"network"`
	}
	if err := x402.Decode(values[0], &p); err != nil {
		if errors.Is(err, x402.ErrHeaderTooLong) {
			return nil, Errorf(CodeHeaderTooLarge, "%s over %d bytes", header, x402.MaxHeaderLen)
		}
		return nil, Errorf(CodePaymentMalformed, "%s: %v", header, err)
	}
	acc := p.Accepted
	if p.X402Version == 1 {
		// Version 1 puts scheme and network at the top and the rest in payload.
		acc.Scheme, acc.Network = p.Scheme, p.Network
		acc.Amount, _ = p.Payload["amount"].(string)
		acc.Asset, _ = p.Payload["asset"].(string)
		if id, ok := p.Payload["id"].(string); ok {
			acc.Extra = map[string]any{"id": id}
		}
	} else if p.X402Version != 2 {
		return nil, Errorf(CodePaymentMalformed, "%s: x402Version %d is not supported", header, p.X402Version)
	}
	switch acc.Scheme {
	case SchemeBatchSettlement, SchemeDeferred, SchemeUpto:
	default:
		return nil, Errorf(CodeSchemeUnsupported, "%s: scheme %q: want \"batch-settlement\", \"upto\" or \"deferred\"", header, acc.Scheme)
	}
	in := &Intent{Dialect: DialectX402, Header: header, Scheme: acc.Scheme, Network: acc.Network, PayTo: acc.PayTo}
	if id, ok := acc.Extra["id"].(string); ok {
		in.OfferID = id
	}
	if err := money.ValidateCurrency(acc.Asset); err != nil {
		return nil, Errorf(CodePriceInvalid, "%s: asset %q is not a currency code", header, acc.Asset)
	}
	if acc.Amount == "" {
		return nil, Errorf(CodePriceInvalid, "%s: accepted.amount is missing", header)
	}
	accepted, err := ParseNetworkAmount(acc.Network, acc.Amount)
	if err != nil {
		return nil, Errorf(CodePriceInvalid, "%s: accepted.amount: %v", header, err)
	}
	// The payload is the commitment: what the client pays at most. It may
	// restate accepted.amount or raise it (a ceiling), never lower it.
	ceiling := accepted
	if raw, ok := p.Payload["amount"]; ok {
		amt, isString := raw.(string)
		if !isString {
			return nil, Errorf(CodePaymentMalformed, "%s: payload.amount must be a string of atomic units", header)
		}
		if ceiling, err = ParseNetworkAmount(acc.Network, amt); err != nil {
			return nil, Errorf(CodePriceInvalid, "%s: payload.amount: %v", header, err)
		}
		if ceiling < accepted {
			return nil, Errorf(CodePriceConflict, "%s: payload.amount %q commits less than accepted.amount %q", header, amt, acc.Amount)
		}
	}
	if raw, ok := p.Payload["asset"]; ok && raw != acc.Asset {
		return nil, Errorf(CodePriceConflict, "%s: payload.asset %v differs from accepted.asset %q", header, raw, acc.Asset)
	}
	in.Price, in.HasPrice = money.Amount{Currency: acc.Asset, Value: ceiling}, true
	return in, nil
}

func parsePriceHeader(values []string, header string, exact bool) (*Intent, error) {
	if len(values) != 1 {
		return nil, Errorf(CodePriceInvalid, "%s: want exactly one value", header)
	}
	a, err := money.ParseAmount(values[0])
	if err != nil {
		return nil, Errorf(CodePriceInvalid, "%s: %v (want e.g. \"USD 0.01\")", header, err)
	}
	return &Intent{Dialect: DialectCrawlerPrice, Header: header, Price: a, HasPrice: true, Exact: exact}, nil
}

// Networks whose x402 amounts this package reads, and the unit of each.
const (
	// NetworkPaycrawl is paycrawl's own network (docs/x402-binding-paycrawl.md):
	// amount counts micro-units, 10^-6 of the currency named by asset.
	NetworkPaycrawl = "paycrawl:402"
	// NetworkCloudflare is Cloudflare's network: amount counts the smallest
	// unit of the currency, cents for USD (batch_settlement_cloudflare.md).
	NetworkCloudflare = "cloudflare:402"
)

// DecimalsPaycrawl is the number of decimal places of paycrawl's unit of
// amount: one micro-unit is 10^-6 of the currency.
const DecimalsPaycrawl = money.Decimals

// NetworkDecimals is the number of decimal places of one atomic unit of
// amount on network: 2 (cents) for cloudflare:402, 6 (micro-units) for
// paycrawl:402 and every other network of the paycrawl namespace. known is
// false for any other network; its unit is then paycrawl's, which is how a
// gateway reads a payment naming its own configured network.
func NetworkDecimals(network string) (decimals int, known bool) {
	switch {
	case network == NetworkCloudflare:
		return 2, true
	case strings.HasPrefix(network, "paycrawl:"):
		return DecimalsPaycrawl, true
	}
	return DecimalsPaycrawl, false
}

// ParseNetworkAmount reads an x402 amount of network (a whole number of
// atomic units, NetworkDecimals) into micro-units, exactly.
func ParseNetworkAmount(network, s string) (money.Micros, error) {
	d, _ := NetworkDecimals(network)
	v, err := money.ParseUnits(s, d)
	if err != nil {
		return 0, fmt.Errorf("amount %q is not a whole number of atomic units: %w", s, err)
	}
	return v, nil
}

// FormatNetworkAmount writes m as an x402 amount of network. An amount that
// the network's unit cannot express (a sub-cent amount on cloudflare:402)
// is an error, never rounded.
func FormatNetworkAmount(network string, m money.Micros) (string, error) {
	d, _ := NetworkDecimals(network)
	return m.Units(d)
}

// ParseAtomic reads an x402 amount in paycrawl's unit: a whole number of
// micro-units.
func ParseAtomic(s string) (money.Micros, error) {
	return ParseNetworkAmount(NetworkPaycrawl, s)
}

// FormatAtomic writes an amount in paycrawl's unit, micro-units.
func FormatAtomic(m money.Micros) string { return strconv.FormatInt(int64(m), 10) }
