package facilitator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/paywall"
	"github.com/paycrawl/paycrawl/pkg/pricing"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/x402"
)

// Bounds of the signed-request extension.
const (
	maxHeaders     = 32
	maxHeaderValue = 8 << 10
	maxURL         = 8 << 10
)

// call is a verify or settle request, checked and rebuilt: the crawler's
// request as the paywall sees it.
type call struct {
	req     *http.Request
	scheme  string
	network string
}

type siteKey struct{}
type requestIDKey struct{}

func siteOf(r *http.Request) *paywall.Site {
	s, _ := r.Context().Value(siteKey{}).(*paywall.Site)
	return s
}

func requestIDOf(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// decode reads and checks a verify or settle body for publisher pub, and
// rebuilds the crawler's request. Its errors are *inputError.
func (f *Facilitator) decode(w http.ResponseWriter, r *http.Request, pub *registry.Publisher) (*call, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, bad(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "the request body is over %d bytes or unreadable", maxBody)
	}
	var in Request
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, bad(http.StatusBadRequest, codeInvalidJSON, "the body is not the JSON of a facilitator request: %v", err)
	}
	if in.X402Version != 2 || (in.PaymentPayload != nil && in.PaymentPayload.X402Version != 2) {
		return nil, bad(http.StatusBadRequest, codeInvalidVersion, "x402Version %d: this facilitator speaks version 2", in.X402Version)
	}
	if in.PaymentPayload == nil || in.PaymentRequirements == nil {
		return nil, bad(http.StatusBadRequest, codeInvalidPayload, "paymentPayload and paymentRequirements are required")
	}
	req := in.PaymentRequirements
	switch req.Scheme {
	case deferred.SchemeBatchSettlement, deferred.SchemeUpto:
	default:
		return nil, bad(http.StatusBadRequest, codeUnsupportedScheme, "scheme %q: this facilitator settles %q and %q", clip(req.Scheme), deferred.SchemeBatchSettlement, deferred.SchemeUpto)
	}
	if req.Network != f.o.Network {
		return nil, bad(http.StatusBadRequest, codeInvalidNetwork, "network %q: this facilitator settles %q", clip(req.Network), f.o.Network)
	}
	if req.PayTo != pub.ID {
		return nil, bad(http.StatusForbidden, codePayeeNotYours, "paymentRequirements.payTo %q is not your publisher id %q", clip(req.PayTo), pub.ID)
	}
	if err := money.ValidateCurrency(req.Asset); err != nil {
		return nil, bad(http.StatusBadRequest, codeInvalidRequirements, "asset %q: want an ISO 4217 currency code such as USD", clip(req.Asset))
	}
	price, err := deferred.ParseNetworkAmount(req.Network, req.Amount)
	if err != nil || price <= 0 {
		return nil, bad(http.StatusBadRequest, codeInvalidRequirements, "amount %q: want a positive whole number of micro-units", clip(req.Amount))
	}
	sr, err := signedRequest(in.PaymentPayload)
	if err != nil {
		return nil, err
	}
	u, err := requestURL(sr.URL)
	if err != nil {
		return nil, err
	}
	h, err := requestHeaders(sr.Headers)
	if err != nil {
		return nil, err
	}
	if err := sameCommitment(h.Get(x402.HeaderPaymentSignature), in.PaymentPayload); err != nil {
		return nil, err
	}
	if !validMethod(sr.Method) {
		return nil, bad(http.StatusBadRequest, codeInvalidPayload, "signed-request.method %q is not an HTTP method", clip(sr.Method))
	}
	site := &paywall.Site{Pricing: &pricing.Site{Host: strings.ToLower(u.Hostname()), Publisher: pub.ID, Currency: req.Asset, Default: price}}
	ctx := context.WithValue(r.Context(), siteKey{}, site)
	// The ledger id of a settle is minted here from what the crawler signed
	// for this publisher, so that a resent settle finds its commitment and
	// no client can choose it.
	sum := sha256.Sum256([]byte(pub.ID + "\n" + h.Get("Signature-Input") + "\n" + h.Get("Signature")))
	ctx = context.WithValue(ctx, requestIDKey{}, "x402-"+hex.EncodeToString(sum[:16]))
	cr, err := http.NewRequestWithContext(ctx, sr.Method, u.String(), nil)
	if err != nil {
		return nil, bad(http.StatusBadRequest, codeInvalidPayload, "signed-request: %v", err)
	}
	// As a server receives it: the target in origin form, the Host apart.
	cr.Host = u.Host
	cr.URL = &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	cr.RequestURI = u.RequestURI()
	cr.Header = h
	return &call{req: cr, scheme: u.Scheme, network: req.Network}, nil
}

// signedRequest reads the signed-request extension strictly.
func signedRequest(p *PaymentPayload) (*SignedRequest, error) {
	raw, ok := p.Extensions[ExtensionSignedRequest]
	if !ok {
		return nil, bad(http.StatusBadRequest, codeInvalidPayload,
			"paymentPayload.extensions[%q] is missing: add the crawler's method, url and signed headers (docs/x402-binding-paycrawl.md §10)", ExtensionSignedRequest)
	}
	var sr SignedRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sr); err != nil {
		return nil, bad(http.StatusBadRequest, codeInvalidPayload, "extensions[%q]: %v", ExtensionSignedRequest, err)
	}
	return &sr, nil
}

// requestURL checks the absolute URL the crawler addressed.
func requestURL(s string) (*url.URL, error) {
	if len(s) > maxURL {
		return nil, bad(http.StatusBadRequest, codeInvalidPayload, "signed-request.url is over %d bytes", maxURL)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return nil, bad(http.StatusBadRequest, codeInvalidPayload, "signed-request.url %q: want an absolute http(s) URL without user info or fragment", clip(s))
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}

// requestHeaders checks the signed headers and returns them as a header.
func requestHeaders(in map[string]string) (http.Header, error) {
	if len(in) > maxHeaders {
		return nil, bad(http.StatusBadRequest, codeInvalidPayload, "signed-request.headers has %d fields, at most %d", len(in), maxHeaders)
	}
	h := http.Header{}
	for name, v := range in {
		if !validFieldName(name) || name != strings.ToLower(name) || name == "host" {
			return nil, bad(http.StatusBadRequest, codeInvalidPayload, "signed-request.headers: %q is not a lower-case field name (host comes from the url)", clip(name))
		}
		if len(v) > maxHeaderValue || strings.ContainsAny(v, "\r\n\x00") {
			return nil, bad(http.StatusBadRequest, codeInvalidPayload, "signed-request.headers[%q]: a field value of at most %d bytes, without CR, LF or NUL", name, maxHeaderValue)
		}
		h.Set(name, v)
	}
	for _, need := range []string{"signature-input", "signature", "payment-signature"} {
		if h.Get(need) == "" {
			return nil, bad(http.StatusBadRequest, codeInvalidPayload, "signed-request.headers[%q] is required", need)
		}
	}
	return h, nil
}

// sameCommitment checks that the paymentPayload the resource server sends
// is the one in the PAYMENT-SIGNATURE header the crawler signed.
func sameCommitment(header string, p *PaymentPayload) error {
	var signed x402.PaymentPayload
	if err := x402.Decode(header, &signed); err != nil {
		return bad(http.StatusBadRequest, codeInvalidPayload, "signed-request.headers[\"payment-signature\"]: %v", err)
	}
	a, b := signed.Accepted, p.Accepted
	same := a.Scheme == b.Scheme && a.Network == b.Network && a.Amount == b.Amount && a.Asset == b.Asset && a.PayTo == b.PayTo &&
		fmt.Sprint(signed.Payload["amount"]) == fmt.Sprint(p.Payload["amount"]) && fmt.Sprint(signed.Payload["asset"]) == fmt.Sprint(p.Payload["asset"])
	if !same {
		return bad(http.StatusBadRequest, codeInvalidPayload, "paymentPayload is not the PAYMENT-SIGNATURE the crawler signed (accepted or payload differ)")
	}
	return nil
}

func validMethod(m string) bool {
	return m != "" && len(m) <= 16 && validFieldName(m) && m == strings.ToUpper(m)
}

// validFieldName reports an RFC 9110 token.
func validFieldName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// clip shortens client text quoted in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
