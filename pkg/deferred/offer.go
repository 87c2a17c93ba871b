package deferred

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/x402"
)

// HeaderCrawlerPrice is the response header that quotes a resource's price on a 402.
const HeaderCrawlerPrice = "crawler-price"

// MinOfferKeyLen is the shortest offer key accepted.
const MinOfferKeyLen = 32

// Quote is what a server asks for one resource.
type Quote struct {
	// Resource is the absolute URL of the resource (scheme, host, path).
	Resource string
	// Authority and Path bind the offer id to the resource: the normalized
	// host[:port] and the escaped path (no query).
	Authority, Path string
	// Price is what one successful response costs.
	Price money.Amount
	// PayTo names the publisher that is paid.
	PayTo string
	// Network is the x402 network id of the deferred and batch-settlement
	// schemes (for example "paycrawl:402").
	Network string
	// Description, MimeType, TermsURL and RegistrationURL are shown to the client.
	Description, MimeType, TermsURL, RegistrationURL string
}

// Offer is a Quote with an id that binds its price until it expires.
type Offer struct {
	Quote
	ID      string
	Expires time.Time
}

// Offers issues and checks offer ids: an HMAC-SHA256 of the price, currency,
// publisher, resource and expiry under a server secret, so that a client can
// neither forge an id nor claim a lower price than it was offered. Several
// keys allow rotation: the first signs, all verify.
type Offers struct {
	keys [][]byte
	ttl  time.Duration
	now  func() time.Time
}

// NewOffers returns an offer issuer. Each key must be at least MinOfferKeyLen
// bytes; ttl is how long an offer stays acceptable (default 5 minutes); now
// defaults to time.Now.
func NewOffers(keys [][]byte, ttl time.Duration, now func() time.Time) (*Offers, error) {
	if len(keys) == 0 {
		return nil, errors.New("deferred: no offer key")
	}
	for i, k := range keys {
		if len(k) < MinOfferKeyLen {
			return nil, fmt.Errorf("deferred: offer key %d is %d bytes, want at least %d", i, len(k), MinOfferKeyLen)
		}
	}
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &Offers{keys: keys, ttl: ttl, now: now}, nil
}

// TTL is how long an offer stays acceptable.
func (o *Offers) TTL() time.Duration { return o.ttl }

// New issues an offer for q.
func (o *Offers) New(q Quote) Offer {
	exp := o.now().Add(o.ttl).Truncate(time.Second)
	return Offer{Quote: q, Expires: exp, ID: o.id(o.keys[0], exp.Unix(), q.Price, q.PayTo, q.Authority, q.Path)}
}

// id is "<expiry unix>.<price micros>.<mac>", the mac truncated to 128 bits.
func (o *Offers) id(key []byte, exp int64, price money.Amount, payTo, authority, path string) string {
	prefix := strconv.FormatInt(exp, 10) + "." + strconv.FormatInt(int64(price.Value), 10)
	return prefix + "." + offerMAC(key, prefix, price.Currency, payTo, authority, path)
}

func offerMAC(key []byte, prefix, currency, payTo, authority, path string) string {
	m := hmac.New(sha256.New, key)
	for _, part := range []string{"paycrawl-offer-v1", prefix, currency, payTo, authority, path} {
		m.Write([]byte(part))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// Check verifies an offer id against the resource and publisher it must have
// been issued for, and returns the price it binds. A forged or foreign id is
// CodeOfferInvalid; an expired one is CodeOfferExpired.
func (o *Offers) Check(id, currency, payTo, authority, path string) (money.Amount, error) {
	if len(id) > 128 {
		return money.Amount{}, Errorf(CodeOfferInvalid, "offer id too long")
	}
	parts := strings.Split(id, ".")
	if len(parts) != 3 {
		return money.Amount{}, Errorf(CodeOfferInvalid, "offer id %q is not one this server issued", id)
	}
	exp, err1 := strconv.ParseInt(parts[0], 10, 64)
	micros, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || micros < 0 {
		return money.Amount{}, Errorf(CodeOfferInvalid, "offer id %q is not one this server issued", id)
	}
	prefix := parts[0] + "." + parts[1]
	ok := false
	for _, k := range o.keys {
		if hmac.Equal([]byte(offerMAC(k, prefix, currency, payTo, authority, path)), []byte(parts[2])) {
			ok = true
			break
		}
	}
	if !ok {
		return money.Amount{}, Errorf(CodeOfferInvalid, "offer id does not match this resource and price; request the resource unsigned for a fresh offer")
	}
	if o.now().Unix() > exp {
		return money.Amount{}, Errorf(CodeOfferExpired, "offer expired at %s", time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	return money.Amount{Currency: currency, Value: money.Micros(micros)}, nil
}

// maxTimeoutSeconds is the x402 maxTimeoutSeconds of every offer: how long
// the client may take to answer the offer with a paid request.
const maxTimeoutSeconds = 60

// BindingVersion is the version of paycrawl's batch-settlement binding,
// sent as extra.version (docs/x402-binding-paycrawl.md).
const BindingVersion = "1.0.0"

// MaxPaymentRequiredLen is the size a PAYMENT-REQUIRED header is kept under
// when it can be: HTTP intermediaries may reject headers over 2 KB.
const MaxPaymentRequiredLen = 2048

// V1Body is the seed's 402 JSON body (x402 version 1, scheme "deferred").
func (o Offer) V1Body(message string) x402.V1PaymentRequired {
	extra := map[string]any{"id": o.ID}
	if o.TermsURL != "" {
		extra["termsUrl"] = o.TermsURL
	}
	return x402.V1PaymentRequired{
		X402Version: 1,
		Error:       message,
		Accepts: []x402.V1Requirements{{
			Scheme:            SchemeDeferred,
			Network:           o.Network,
			Resource:          o.Resource,
			MaxAmountRequired: FormatAtomic(o.Price.Value),
			Asset:             o.Price.Currency,
			PayTo:             o.PayTo,
			Description:       o.Description,
			MimeType:          o.MimeType,
			MaxTimeoutSeconds: maxTimeoutSeconds,
			Extra:             extra,
		}},
	}
}

// V2 is the x402 version 2 PaymentRequired. It leads with batch-settlement
// on the offer's network, then the seed's deferred scheme; both carry the
// offer id in extra.id and the price in paycrawl's unit, micro-units of the
// asset (docs/x402-binding-paycrawl.md). The http-message-signatures
// extension tells the client how to sign and where to register its keys.
func (o Offer) V2(errorCode string) x402.PaymentRequired {
	amount := FormatAtomic(o.Price.Value)
	deferredExtra := map[string]any{"id": o.ID}
	if o.TermsURL != "" {
		deferredExtra["termsUrl"] = o.TermsURL
	}
	pr := x402.PaymentRequired{
		X402Version: 2,
		Error:       errorCode,
		Resource:    &x402.Resource{URL: o.Resource, Description: o.Description, MimeType: o.MimeType},
		Accepts: []x402.PaymentRequirements{
			{Scheme: SchemeBatchSettlement, Network: o.Network, Amount: amount, Asset: o.Price.Currency,
				PayTo: o.PayTo, MaxTimeoutSeconds: maxTimeoutSeconds, Extra: map[string]any{"version": BindingVersion, "id": o.ID}},
			{Scheme: SchemeDeferred, Network: o.Network, Amount: amount, Asset: o.Price.Currency,
				PayTo: o.PayTo, MaxTimeoutSeconds: maxTimeoutSeconds, Extra: deferredExtra},
		},
	}
	pr.Extensions = map[string]any{x402.ExtensionHTTPMessageSignatures: map[string]any{"info": x402.HTTPMessageSignaturesInfo{
		RegistrationURL:  o.RegistrationURL,
		SignatureSchemes: []string{"ed25519"},
		Tags:             []string{TagWebBotAuth},
	}}}
	return pr
}

// CrawlerPrice is the crawler-price header value, such as "USD 0.01".
func (o Offer) CrawlerPrice() string { return o.Price.String() }

// WriteHeaders sets the 402 headers of all dialects on h: PAYMENT-REQUIRED
// and crawler-price. The caller writes the V1Body as the response body. A
// PAYMENT-REQUIRED over MaxPaymentRequiredLen drops the resource's optional
// description and MIME type, as the Cloudflare binding does.
func (o Offer) WriteHeaders(h http.Header, code Code) error {
	pr := o.V2(code.X402())
	v2, err := x402.Encode(pr)
	if err != nil {
		return err
	}
	if len(v2) > MaxPaymentRequiredLen {
		pr.Resource = &x402.Resource{URL: o.Resource}
		if v2, err = x402.Encode(pr); err != nil {
			return err
		}
	}
	h.Set(x402.HeaderPaymentRequired, v2)
	h.Set(HeaderCrawlerPrice, o.CrawlerPrice())
	return nil
}

// Accept decides what a request's intent commits the client to pay for the
// resource quoted by q, and returns the amount to charge: the price, never
// more, whatever ceiling the client committed to.
//
// An x402 intent must name q's network (its amount is read in that
// network's unit, and a commitment to another network is that network's to
// bill) and, if it names a recipient, q's publisher; an upto intent must
// name it. With an offer id, the id must have been issued for this resource
// and publisher and must not have expired; a price restated by the client
// must equal the offer's (Exact) or be at or above it (a ceiling); the
// charge is the lower of the offered and the current price. Without an
// offer id (a pre-authorized client), an exact price must equal the current
// price and a ceiling must be at or above it.
func (o *Offers) Accept(in *Intent, q Quote) (money.Amount, error) {
	if in.Dialect == DialectX402 {
		if err := acceptX402(in, q); err != nil {
			return money.Amount{}, err
		}
	}
	if in.OfferID != "" {
		offered, err := o.Check(in.OfferID, q.Price.Currency, q.PayTo, q.Authority, q.Path)
		if err != nil {
			return money.Amount{}, err
		}
		if in.HasPrice {
			switch {
			case in.Price.Currency != offered.Currency:
				return money.Amount{}, Errorf(CodeCurrencyMismatch, "the payment is in %s, but the offer was in %s", in.Price.Currency, offered.Currency)
			case in.Exact && in.Price.Value != offered.Value:
				return money.Amount{}, Errorf(CodePriceNotExact, "the payment states %s but the offer was for %s", in.Price, offered)
			case !in.Exact && in.Price.Value < offered.Value:
				return money.Amount{}, Errorf(CodePriceAboveMax, "the offer's price %s is above your commitment %s", offered, in.Price)
			}
		}
		if q.Price.Value < offered.Value {
			return q.Price, nil
		}
		return offered, nil
	}
	if !in.HasPrice {
		return money.Amount{}, Errorf(CodePaymentRequired, "the payment names no offer and no price")
	}
	if in.Price.Currency != q.Price.Currency {
		return money.Amount{}, Errorf(CodeCurrencyMismatch, "price in %s, but this resource is priced in %s", in.Price.Currency, q.Price.Currency)
	}
	if in.Exact && in.Price.Value != q.Price.Value {
		return money.Amount{}, Errorf(CodePriceNotExact, "%s is not the price of this resource, %s", in.Price, q.Price)
	}
	if !in.Exact && in.Price.Value < q.Price.Value {
		return money.Amount{}, Errorf(CodePriceAboveMax, "the price %s is above your maximum %s", q.Price, in.Price)
	}
	return q.Price, nil
}

// acceptX402 checks the network and recipient an x402 intent names.
func acceptX402(in *Intent, q Quote) error {
	if q.Network != "" && in.Network != q.Network {
		return Errorf(CodeNetworkUnsupported, "the payment is for network %q; this server takes payments on %q only: answer the offer in PAYMENT-REQUIRED", in.Network, q.Network)
	}
	if in.Scheme == SchemeUpto && in.PayTo == "" {
		return Errorf(CodeOfferInvalid, "an upto payment must name its recipient in accepted.payTo (%q)", q.PayTo)
	}
	if in.PayTo != "" && in.PayTo != q.PayTo {
		return Errorf(CodeOfferInvalid, "the payment pays %q, but this resource's publisher is %q", in.PayTo, q.PayTo)
	}
	return nil
}
