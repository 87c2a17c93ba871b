package deferred

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/x402"
)

// ReceivedOffer is a 402 offer as a crawler reads it.
type ReceivedOffer struct {
	// Dialect is where the offer was read from: DialectX402 (PAYMENT-REQUIRED),
	// DialectDeferred (the version 1 JSON body) or DialectCrawlerPrice
	// (crawler-price alone).
	Dialect Dialect
	Scheme  string
	Network string
	ID      string
	// Price is the offer's amount in micro-units, read in the unit of its
	// network (NetworkDecimals): cents on cloudflare:402.
	Price money.Amount
	PayTo string
	// Requirements is the x402 entry the offer came from, echoed back in a
	// PAYMENT-SIGNATURE.
	Requirements *x402.PaymentRequirements
	// Reason is the server's crawler-error code, if any.
	Reason string

	// The PAYMENT-REQUIRED parts a PAYMENT-SIGNATURE echoes as they came:
	// the chosen entry, the resource and the extensions.
	accepted, resource, extensions json.RawMessage
}

// maxOfferBody caps the 402 body a crawler reads.
const maxOfferBody = 64 << 10

// offerSchemes are the x402 schemes a crawler answers, in order of preference.
var offerSchemes = []string{SchemeBatchSettlement, SchemeDeferred, SchemeUpto}

// ParseOffer reads the offer of a 402 response whose body was read into body.
// From PAYMENT-REQUIRED it takes the first batch-settlement, then deferred,
// then upto entry whose network's unit it knows (NetworkDecimals: an entry
// of any other network is skipped) and whose asset is a currency code; then
// it tries the version 1 body; then crawler-price.
func ParseOffer(h http.Header, body []byte) (*ReceivedOffer, error) {
	reason := h.Get(HeaderCrawlerError)
	var skipped error
	if v := h.Get(x402.HeaderPaymentRequired); v != "" {
		var pr struct {
			X402Version int               `json:"x402Version"`
			Resource    json.RawMessage   `json:"resource"`
			Accepts     []json.RawMessage `json:"accepts"`
			Extensions  json.RawMessage   `json:"extensions"`
		}
		if err := x402.Decode(v, &pr); err != nil {
			return nil, fmt.Errorf("deferred: PAYMENT-REQUIRED: %w", err)
		}
		if pr.X402Version == 2 {
			for _, scheme := range offerSchemes {
				for _, raw := range pr.Accepts {
					var a x402.PaymentRequirements
					if json.Unmarshal(raw, &a) != nil || a.Scheme != scheme {
						continue
					}
					o, err := readRequirements(a)
					if err != nil {
						skipped = err
						continue
					}
					o.Reason, o.accepted, o.resource, o.extensions = reason, raw, pr.Resource, pr.Extensions
					return o, nil
				}
			}
		}
	}
	if len(body) > 0 {
		var v1 x402.V1PaymentRequired
		if json.Unmarshal(body, &v1) == nil {
			for _, a := range v1.Accepts {
				if a.Scheme != SchemeDeferred {
					continue
				}
				amt, err := ParseNetworkAmount(a.Network, a.MaxAmountRequired)
				if err != nil {
					return nil, fmt.Errorf("deferred: 402 body: %w", err)
				}
				id, _ := a.Extra["id"].(string)
				return &ReceivedOffer{Dialect: DialectDeferred, Scheme: a.Scheme, Network: a.Network, ID: id,
					Price: money.Amount{Currency: a.Asset, Value: amt}, PayTo: a.PayTo, Reason: reason}, nil
			}
		}
	}
	if v := h.Get(HeaderCrawlerPrice); v != "" {
		a, err := money.ParseAmount(v)
		if err != nil {
			return nil, fmt.Errorf("deferred: crawler-price: %w", err)
		}
		return &ReceivedOffer{Dialect: DialectCrawlerPrice, Price: a, Reason: reason}, nil
	}
	if skipped != nil {
		return nil, fmt.Errorf("deferred: PAYMENT-REQUIRED: %w", skipped)
	}
	return nil, fmt.Errorf("deferred: the 402 response carries no offer this client understands")
}

// readRequirements reads one PAYMENT-REQUIRED entry in its network's unit.
func readRequirements(a x402.PaymentRequirements) (*ReceivedOffer, error) {
	if _, known := NetworkDecimals(a.Network); !known {
		return nil, fmt.Errorf("network %q: unit of amount unknown", a.Network)
	}
	if err := money.ValidateCurrency(a.Asset); err != nil {
		return nil, fmt.Errorf("asset %q: %w", a.Asset, err)
	}
	amt, err := ParseNetworkAmount(a.Network, a.Amount)
	if err != nil {
		return nil, err
	}
	id, _ := a.Extra["id"].(string)
	return &ReceivedOffer{Dialect: DialectX402, Scheme: a.Scheme, Network: a.Network, ID: id,
		Price: money.Amount{Currency: a.Asset, Value: amt}, PayTo: a.PayTo, Requirements: &a}, nil
}

// Transport is an http.RoundTripper for crawlers. It signs every request;
// on a 402 it accepts the offer if its price is within MaxPrice, and retries
// once with a signed commitment in the chosen dialect. A response that
// states a charge is reported to OnReceipt. A 402 it does not pay is
// returned to the caller as it came.
type Transport struct {
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Signer signs every request. Required.
	Signer *Signer
	// MaxPrice is the most the crawler pays for one response. An offer in
	// another currency or above it is not accepted. Offers are compared in
	// micro-units, each read in its network's unit (a cloudflare:402 amount
	// of "1" is one cent, 10,000 micro-units).
	MaxPrice money.Amount
	// Dialect is how offers are answered: DialectDeferred (the Payment
	// header, the default), DialectX402 (PAYMENT-SIGNATURE) or
	// DialectCrawlerPrice (crawler-exact-price).
	Dialect Dialect
	// PreAuthorize sends crawler-max-price with MaxPrice on the first
	// request, skipping the 402 round trip.
	PreAuthorize bool
	// OnReceipt, if set, is called with the receipt of every paid response.
	OnReceipt func(*http.Request, *Receipt)
	// OnOffer, if set, is called with every offer seen and whether it was
	// accepted.
	OnOffer func(req *http.Request, offer *ReceivedOffer, accepted bool)
	// OnAttempt, if set, is called once for every request sent with a
	// payment commitment, whatever became of it: charged, refused, an
	// unconfirmed charge, or no answer at all. A crawler keeps these to
	// reconcile what it received with what the ledger recorded.
	OnAttempt func(req *http.Request, a *Attempt)
}

// Attempt is one request the Transport sent with a payment commitment.
type Attempt struct {
	// Sent is when it was sent.
	Sent time.Time
	// URL is the request's URL.
	URL string
	// SignatureID names the request's signature as the ledger does
	// (SignatureID), so that it can be found among the day's commitments.
	SignatureID string
	// Status is the answer's status, 0 when none arrived.
	Status int
	// RequestID is the gateway's id of the request (X-Request-Id), if any.
	RequestID string
	// CrawlerError is the answer's crawler-error code, if any.
	CrawlerError string
	// Receipt is the charge the answer states; nil when it states none.
	Receipt *Receipt
	// Err is why no answer arrived.
	Err error
}

// attempt reports a paid request's outcome to OnAttempt.
func (t *Transport) attempt(paid *http.Request, sent time.Time, resp *http.Response, err error) {
	if t.OnAttempt == nil {
		return
	}
	a := &Attempt{Sent: sent, URL: paid.URL.String(), Err: err}
	a.SignatureID, _ = SentSignatureID(paid.Header)
	if resp != nil {
		a.Status, a.RequestID, a.CrawlerError = resp.StatusCode, resp.Header.Get("X-Request-Id"), resp.Header.Get(HeaderCrawlerError)
		if resp.StatusCode/100 == 2 {
			a.Receipt, _ = ParseReceipt(resp.Header)
		}
	}
	t.OnAttempt(paid, a)
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	first := req.Clone(req.Context())
	var extra []string
	if t.PreAuthorize {
		first.Header.Set(HeaderCrawlerMaxPrice, t.MaxPrice.String())
		extra = append(extra, HeaderCrawlerMaxPrice)
	}
	if err := t.Signer.Sign(first, extra...); err != nil {
		return nil, err
	}
	sent := time.Now()
	resp, err := t.base().RoundTrip(first)
	if t.PreAuthorize && (err != nil || resp.StatusCode != http.StatusPaymentRequired) {
		t.attempt(first, sent, resp, err)
	}
	if err != nil || resp.StatusCode != http.StatusPaymentRequired {
		return t.receipt(req, resp, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOfferBody))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	offer, err := ParseOffer(resp.Header, body)
	if err != nil {
		return resp, nil // a 402 without an understandable offer goes back as it came
	}
	accept := offer.Price.Currency == t.MaxPrice.Currency && offer.Price.Value <= t.MaxPrice.Value &&
		(req.Body == nil || req.Body == http.NoBody || req.GetBody != nil)
	if t.OnOffer != nil {
		t.OnOffer(req, offer, accept)
	}
	if !accept {
		return resp, nil
	}
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	header, err := t.commit(retry, offer)
	if err != nil {
		return nil, err
	}
	if err := t.Signer.Sign(retry, header); err != nil {
		return nil, err
	}
	sent = time.Now()
	resp, err = t.base().RoundTrip(retry)
	t.attempt(retry, sent, resp, err)
	return t.receipt(req, resp, err)
}

// commit sets the payment header answering offer and returns its name.
// An offer without an id (a Cloudflare offer) cannot be answered with the
// Payment header: it is answered in its own dialect, PAYMENT-SIGNATURE for
// an x402 offer, crawler-exact-price for a bare price.
func (t *Transport) commit(r *http.Request, offer *ReceivedOffer) (string, error) {
	dialect := t.Dialect
	if dialect == "" {
		dialect = DialectDeferred
	}
	if offer.ID == "" && dialect != DialectCrawlerPrice {
		dialect = DialectCrawlerPrice
		if offer.Dialect == DialectX402 {
			dialect = DialectX402
		}
	}
	switch dialect {
	case DialectDeferred:
		d := httpsfv.NewDictionary()
		d.Add("scheme", httpsfv.NewItem(SchemeDeferred))
		d.Add("network", httpsfv.NewItem(offer.Network))
		d.Add("id", httpsfv.NewItem(offer.ID))
		v, err := httpsfv.Marshal(d)
		if err != nil {
			return "", err
		}
		r.Header.Set(HeaderPayment, v)
		return "payment", nil
	case DialectX402:
		v, err := paymentSignature(offer)
		if err != nil {
			return "", err
		}
		r.Header.Set(x402.HeaderPaymentSignature, v)
		return "payment-signature", nil
	default:
		r.Header.Set(HeaderCrawlerExactPrice, offer.Price.String())
		return HeaderCrawlerExactPrice, nil
	}
}

// paymentSignature is the PAYMENT-SIGNATURE answering offer: accepted,
// resource and extensions echoed as the server sent them, and a payload
// committing to the offer's amount and asset, in the offer's own unit.
func paymentSignature(offer *ReceivedOffer) (string, error) {
	accepted := offer.accepted
	amount := ""
	if offer.Requirements != nil {
		amount = offer.Requirements.Amount
	} else {
		var err error
		if amount, err = FormatNetworkAmount(offer.Network, offer.Price.Value); err != nil {
			return "", err
		}
	}
	if accepted == nil {
		acc := x402.PaymentRequirements{Scheme: SchemeDeferred, Network: offer.Network, Amount: amount,
			Asset: offer.Price.Currency, PayTo: offer.PayTo, MaxTimeoutSeconds: maxTimeoutSeconds,
			Extra: map[string]any{"id": offer.ID}}
		if offer.Requirements != nil {
			acc = *offer.Requirements
		}
		b, err := json.Marshal(acc)
		if err != nil {
			return "", err
		}
		accepted = b
	}
	return x402.Encode(struct {
		X402Version int             `json:"x402Version"`
		Resource    json.RawMessage `json:"resource,omitempty"`
		Accepted    json.RawMessage `json:"accepted"`
		Payload     map[string]any  `json:"payload"`
		Extensions  json.RawMessage `json:"extensions,omitempty"`
	}{2, offer.resource, accepted, map[string]any{"amount": amount, "asset": offer.Price.Currency}, offer.extensions})
}

func (t *Transport) receipt(req *http.Request, resp *http.Response, err error) (*http.Response, error) {
	if err != nil || t.OnReceipt == nil || resp.StatusCode/100 != 2 {
		return resp, err
	}
	if rc, perr := ParseReceipt(resp.Header); perr == nil && rc != nil {
		t.OnReceipt(req, rc)
	}
	return resp, nil
}
