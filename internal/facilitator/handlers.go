package facilitator

import (
	"net/http"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/x402"
)

// verify answers POST /verify: whether the gateway would accept the
// crawler's signed payment for this resource, price and publisher now.
// Nothing is recorded.
func (f *Facilitator) verify(w http.ResponseWriter, r *http.Request, pub *registry.Publisher) {
	payer, err := f.check(w, r, pub)
	if err != nil {
		o := outcomeOf(r, err)
		httpx.WriteJSON(w, o.status, VerifyResponse{InvalidReason: o.reason, InvalidMessage: o.message, Extra: map[string]any{"code": o.code}})
		return
	}
	httpx.WriteJSON(w, http.StatusOK, VerifyResponse{IsValid: true, Payer: payer})
}

func (f *Facilitator) check(w http.ResponseWriter, r *http.Request, pub *registry.Publisher) (string, error) {
	c, err := f.decode(w, r, pub)
	if err != nil {
		return "", err
	}
	a, err := f.paywalls[c.scheme].Authorize(c.req, false)
	if err != nil {
		return "", err
	}
	return a.Payer(), nil
}

// settle answers POST /settle: it verifies as verify does and records the
// commitment in the ledger. The answer's transaction is the commitment's
// ledger id. A settle sent again with the same payload answers with the
// same commitment and charges nothing more.
func (f *Facilitator) settle(w http.ResponseWriter, r *http.Request, pub *registry.Publisher) {
	res, err := f.record(w, r, pub)
	if err != nil {
		o := outcomeOf(r, err)
		httpx.WriteJSON(w, o.status, SettleResponse{
			SettleResponse: x402.SettleResponse{ErrorReason: o.reason, Transaction: "", Network: f.o.Network, Extra: map[string]any{"code": o.code}},
			ErrorMessage:   o.message,
		})
		return
	}
	httpx.WriteJSON(w, http.StatusOK, SettleResponse{SettleResponse: *res})
}

func (f *Facilitator) record(w http.ResponseWriter, r *http.Request, pub *registry.Publisher) (*x402.SettleResponse, error) {
	c, err := f.decode(w, r, pub)
	if err != nil {
		return nil, err
	}
	pw := f.paywalls[c.scheme]
	a, err := pw.Authorize(c.req, true)
	if err != nil {
		return nil, err
	}
	cm, id, err := pw.Record(c.req.Context(), a)
	if err != nil {
		return nil, err
	}
	amount, err := deferred.FormatNetworkAmount(c.network, cm.Price)
	if err != nil {
		return nil, err
	}
	return &x402.SettleResponse{Success: true, Payer: a.Payer(), Transaction: id, Network: c.network, Amount: amount, Asset: cm.Currency,
		Extra: map[string]any{"scheme": a.Scheme(), "timestamp": cm.Received.Unix()}}, nil
}
