package paywall

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/pricing"
)

// headerAcceptSignature is the RFC 9421 §5.1 field that asks a client for
// a signature.
const headerAcceptSignature = "Accept-Signature"

// RefusalBody is the JSON body of every refusal but a 402 with an offer
// (whose body is the x402 version 1 PaymentRequired).
type RefusalBody struct {
	// Code is the deferred error code (snake_case).
	Code string `json:"code"`
	// Message says what went wrong and what to do.
	Message string `json:"message"`
	// CrawlerError is the crawler-error value.
	CrawlerError string `json:"crawlerError"`
	// X402Error is the x402 error code, when the code has one.
	X402Error string `json:"x402Error,omitempty"`
	// RequestID is the server's id of the request, when it has one.
	RequestID string `json:"requestId,omitempty"`
}

// Refusal is a refusal the middleware sent, as Options.Refused is told of
// it.
type Refusal struct {
	// Publisher and Site are the site's (pricing.Site Publisher and Host).
	Publisher, Site string
	// Account is the operator whose key verified the request's signature,
	// "" when none did (unsigned, or the signature failed: whatever account
	// the request claims is not given). A replayed signature verifies too,
	// so Account is then the signer, not necessarily who sent this copy.
	Account string
	// Signature identifies the verified signature (its first replay id,
	// deferred.ReplayIDs): every copy of one signature has the same, so a
	// counter can credit Account once per signature. SignatureExpires is
	// when it stops being valid. Both are zero when Account is "".
	Signature        string
	SignatureExpires time.Time
	// Code is the refusal's code.
	Code deferred.Code
	// Received is when the paywall received the request.
	Received time.Time
}

// unwrap returns the writer under a chargeWriter, marking it written: a
// refusal is never metered.
func unwrap(w http.ResponseWriter) http.ResponseWriter {
	if cw, ok := w.(*chargeWriter); ok {
		cw.wrote, cw.discard = true, true
		return cw.ResponseWriter
	}
	return w
}

// refuse answers a request the paywall will not serve (or not serve yet):
// the one encoder of every refusal, whatever refused it (an unknown site,
// a bad path or body, the signature, the price, the origin, the ledger).
// Every refusal carries crawler-error and the x402 code; a missing
// signature or component also Accept-Signature; a 402 carries the offer in
// all three dialects: the PAYMENT-REQUIRED and crawler-price headers and
// the version 1 JSON body, or a short HTML page for a browser; but for the
// refusals of a crawler's agreement (quota_exhausted, prepaid_exhausted),
// which no offer can pay.
func (p *Paywall) refuse(w http.ResponseWriter, r *http.Request, st *request, err error) {
	w = unwrap(w)
	st.decided = true
	code := deferred.CodeOf(err)
	// Only a refusal's own message is shown; any other error's text (which
	// may name internal hosts or addresses) is logged, never sent.
	msg, ok := deferred.MessageOf(err)
	if !ok {
		p.o.Logger(r.Context()).Error("internal error on the request path", "err", err)
	}
	switch {
	case code == deferred.CodePaymentRequired:
		st.outcome = outcomePaymentRequired
	case st.outcome == outcomeFree || st.outcome == "":
		st.outcome = outcomeRefused
	}
	st.code = string(code)
	if p.o.Refused != nil && st.site != nil {
		defer p.o.Refused(r, Refusal{Publisher: st.site.Pricing.Publisher, Site: st.site.Pricing.Host,
			Account: st.account, Signature: st.signature, SignatureExpires: st.signatureExpires, Code: code, Received: st.received})
	}
	h := w.Header()
	h.Set(deferred.HeaderCrawlerError, code.CrawlerError())
	h.Set("Cache-Control", "no-store")
	status := code.Status()
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	switch code {
	case deferred.CodeSignatureRequired, deferred.CodeComponentNotCovered, deferred.CodeAgentMissing:
		// RFC 9421 §5: say what a signature this server accepts covers.
		h.Set(headerAcceptSignature, p.verifier.Policy.AcceptSignature(st.intent))
	}
	var body any = RefusalBody{
		Code: string(code), Message: msg, CrawlerError: code.CrawlerError(), X402Error: code.X402(),
		RequestID: p.o.RequestID(r.Context()),
	}
	indent := "  "
	if status == http.StatusPaymentRequired && st.site != nil && code != deferred.CodeQuotaExhausted && code != deferred.CodePrepaidExhausted {
		price := st.price
		if price.Value == 0 {
			// Refused before the crawler was known: quote the anonymous price.
			price = st.site.decide(r, pricing.Crawler{}).Price
		}
		if price.Value > 0 {
			offer := p.offers.New(p.quote(r, st.site, price))
			if err := offer.WriteHeaders(h, code); err != nil {
				p.o.Logger(r.Context()).Error("writing offer", "err", err)
			}
			if wantsHTML(r) {
				h.Set("Content-Type", "text/html; charset=utf-8")
				w.WriteHeader(status)
				_ = paywallPage.Execute(w, pageData{Offer: offer, Message: msg})
				return
			}
			body, indent = offer.V1Body(msg), ""
		}
	}
	if indent != "" {
		h.Set("X-Content-Type-Options", "nosniff")
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", indent)
	_ = enc.Encode(body)
}

// wantsHTML reports an unsigned client that prefers HTML: a person.
func wantsHTML(r *http.Request) bool {
	return !deferred.HasSignature(r.Header) && strings.Contains(r.Header.Get("Accept"), "text/html")
}

type pageData struct {
	Offer   deferred.Offer
	Message string
}

var paywallPage = template.Must(template.New("402").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Payment required</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}code{background:#f3f3f3;padding:0 .2em}</style>
</head><body>
<h1>Payment required</h1>
<p>This page is metered for automated crawlers: each successful request costs
<strong>{{.Offer.Price}}</strong>, billed once a day to the crawler's account.</p>
<p>Crawlers sign their requests (<a href="https://datatracker.ietf.org/doc/html/rfc9421">HTTP Message Signatures</a>,
Web Bot Auth) with a registered key{{with .Offer.RegistrationURL}} — <a href="{{.}}">register here</a>{{end}} — and
answer this offer: it is in the <code>PAYMENT-REQUIRED</code> and <code>crawler-price</code> headers.</p>
{{with .Offer.TermsURL}}<p><a href="{{.}}">Terms of use</a></p>{{end}}
<p><small>{{.Message}}</small></p>
</body></html>
`))
