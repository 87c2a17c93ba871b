package paywall

import (
	"context"
	"net/http"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// Authorization is a request's payment once the paywall has verified and
// prechecked it, before it is recorded: what a facilitator's verify
// answers and its settle records.
type Authorization struct {
	st *request
	r  *http.Request
}

// Payer is the paying crawler's Signature-Agent.
func (a *Authorization) Payer() string { return a.st.payer }

// Account is the paying crawler's operator.
func (a *Authorization) Account() string { return a.st.commitment.Account }

// Charge is what recording the authorization charges: the price, never
// the client's ceiling.
func (a *Authorization) Charge() money.Amount {
	return money.Amount{Currency: a.st.commitment.Currency, Value: a.st.commitment.Price}
}

// Scheme is the payment scheme the crawler named ("batch-settlement",
// "upto", "deferred"; "" for the crawler-price headers).
func (a *Authorization) Scheme() string { return a.st.scheme }

// Authorize runs the paywall's request path on r up to where the handler
// would run, without serving anything: site, path, intent, signature,
// price decision, offer, billing terms and cap. It returns the payment to
// record, or the refusal the middleware would answer (a deferred *Error,
// whose code says the status and the x402 reason). A request the paywall
// would serve without charging (a free path, an allowed crawler, HEAD or
// OPTIONS) is refused as CodePaymentRequired: there is nothing to record.
//
// With resend, r may repeat a request already recorded under the same
// RequestID (Options.RequestID): the replay and cap checks are then the
// ledger's, whose append answers such a resend with the first
// commitment's id and refuses any other use of the signature.
func (p *Paywall) Authorize(r *http.Request, resend bool) (*Authorization, error) {
	st := &request{received: p.now(), outcome: outcomeFree, resend: resend}
	s := p.o.Sites(r)
	if s == nil {
		return nil, deferred.Errorf(deferred.CodeUnknownSite, "no site %q is priced here", r.Host)
	}
	st.site = s
	if !canonicalPath(r.URL.Path) {
		return nil, pathError(r.URL.Path)
	}
	if err := p.admit(r, st); err != nil {
		return nil, err
	}
	if st.commitment == nil {
		return nil, deferred.Errorf(deferred.CodePaymentRequired, "this request is not charged: nothing to record")
	}
	return &Authorization{st: st, r: r}, nil
}

// Record appends a's commitment to the ledger, with the BeforeCharge and
// AfterCharge hooks and the retries of the middleware, and returns its
// ledger id. It is idempotent by the request id the commitment carries. An
// error is the refusal a crawler would see (deferred *Error): a refusal
// that says nothing was charged is one the ledger proved; an unconfirmed
// append says it may have been recorded (CodeChargeUnconfirmed).
func (p *Paywall) Record(ctx context.Context, a *Authorization) (*ledger.Commitment, string, error) {
	st := a.st
	if err := p.settle(a.r.WithContext(ctx), st, http.StatusOK, http.Header{}); err != nil {
		return nil, "", refusalOf(err, st)
	}
	return st.commitment, st.chargeID, nil
}

// accept decides what the intent pays for the quote (deferred.Offers.Accept),
// with offer ids left unchecked under ExternalOffers.
func (p *Paywall) accept(in *deferred.Intent, q deferred.Quote) (money.Amount, error) {
	if p.o.ExternalOffers && in.OfferID != "" {
		own := *in
		own.OfferID = ""
		if !own.HasPrice {
			return money.Amount{}, deferred.Errorf(deferred.CodePaymentRequired, "the payment names an offer but no price")
		}
		return p.offers.Accept(&own, q)
	}
	return p.offers.Accept(in, q)
}
