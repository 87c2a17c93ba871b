package teststripe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Proxy is a recording Stripe test double in front of stripe-mock. Every
// request goes to stripe-mock, which validates it against Stripe's OpenAPI
// specification and answers with fixtures; the proxy then adds what a
// stateless mock cannot:
//
//   - the outcomes of Stripe's test payment methods on payment intents
//     (pm_card_visa succeeds, pm_card_chargeDeclined and friends decline with
//     their decline codes, pm_card_authenticationRequired needs action, and
//     pm_card_processing stays processing);
//   - idempotent replay: a request with an Idempotency-Key seen before gets
//     the first response again, as Stripe does;
//   - payment intents that keep their status for later retrieval;
//   - customers' default payment methods (pm_card_visa unless set);
//   - Connect transfers, kept with ids of their own.
//
// It counts requests and created charges per idempotency key, so tests can
// prove that an invoice was charged exactly once.
type Proxy struct {
	upstream *url.URL
	client   *http.Client

	mu        sync.Mutex
	replies   map[string]reply      // idempotency key → first response
	requests  map[string]int        // idempotency key → requests seen
	intents   map[string]*Intent    // payment intent id → intent
	defaultPM map[string]string     // customer → default payment method
	refunds   []Refund              // refunds created, in order
	transfers []Transfer            // transfers created, in order
	hooks     []func(*http.Request) // run before each request is forwarded
}

// Intent is a payment intent as the proxy keeps it.
type Intent struct {
	ID, Customer, PaymentMethod, Status, IdempotencyKey string
	Amount                                              int64
	Currency                                            string
	Metadata                                            map[string]string
}

// Refund is a refund as the proxy keeps it.
type Refund struct {
	ID, PaymentIntent, IdempotencyKey, Status string
	Amount                                    int64
	Metadata                                  map[string]string
}

// Transfer is a Stripe Connect transfer as the proxy keeps it, with an id
// of its own (stripe-mock answers every transfer with one fixture id).
type Transfer struct {
	ID, Destination, Currency, TransferGroup, IdempotencyKey string
	Amount                                                   int64
	Metadata                                                 map[string]string
}

// Transfers returns the transfers created, in order.
func (p *Proxy) Transfers() []Transfer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Transfer(nil), p.transfers...)
}

type reply struct {
	status int
	body   []byte
}

// NewProxy returns a proxy to the stripe-mock at upstream (http://host:port).
func NewProxy(upstream string) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	return &Proxy{upstream: u, client: &http.Client{},
		replies: map[string]reply{}, requests: map[string]int{}, intents: map[string]*Intent{}, defaultPM: map[string]string{}}, nil
}

// StartProxy starts stripe-mock and a proxy in front of it for the test and
// returns the proxy's base URL.
func StartProxy(t testing.TB) (string, *Proxy) {
	t.Helper()
	p, err := NewProxy(Start(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL, p
}

// SetDefaultPaymentMethod sets a customer's default payment method.
func (p *Proxy) SetDefaultPaymentMethod(customer, pm string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.defaultPM[customer] = pm
}

// SetIntentStatus changes a kept payment intent's status (a processing
// payment that later succeeds or fails).
func (p *Proxy) SetIntentStatus(id, status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if in, ok := p.intents[id]; ok {
		in.Status = status
	}
}

// OnRequest adds a hook run before each request is forwarded.
func (p *Proxy) OnRequest(f func(*http.Request)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hooks = append(p.hooks, f)
}

// Requests is how many requests carried the idempotency key.
func (p *Proxy) Requests(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[key]
}

// Refunds lists the refunds created, one per idempotency key, in order.
func (p *Proxy) Refunds() []Refund {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Refund(nil), p.refunds...)
}

// Intents lists the payment intents created, one per idempotency key.
func (p *Proxy) Intents() []Intent {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Intent, 0, len(p.intents))
	for _, in := range p.intents {
		out = append(out, *in)
	}
	return out
}

// testOutcomes maps Stripe's test payment methods to what a confirmed,
// off-session payment intent does with them.
var testOutcomes = map[string]struct{ status, code, decline string }{
	"pm_card_visa":                            {status: "succeeded"},
	"pm_card_mastercard":                      {status: "succeeded"},
	"pm_card_amex":                            {status: "succeeded"},
	"pm_card_us":                              {status: "succeeded"},
	"pm_card_authenticationRequired":          {status: "requires_action"},
	"pm_card_processing":                      {status: "processing"},
	"pm_card_chargeDeclined":                  {code: "card_declined", decline: "generic_decline"},
	"pm_card_chargeDeclinedInsufficientFunds": {code: "card_declined", decline: "insufficient_funds"},
	"pm_card_chargeDeclinedExpiredCard":       {code: "expired_card", decline: "expired_card"},
}

// ServeHTTP forwards a request and applies the test semantics.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := r.Header.Get("Idempotency-Key")
	p.mu.Lock()
	hooks := append([]func(*http.Request){}, p.hooks...)
	if key != "" {
		p.requests[key]++
		if rep, ok := p.replies[key]; ok {
			p.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(rep.status)
			_, _ = w.Write(rep.body)
			return
		}
	}
	p.mu.Unlock()
	for _, h := range hooks {
		h(r)
	}
	status, out := p.forward(r, body)
	if status == http.StatusOK {
		status, out = p.apply(r, body, key, out)
	}
	if key != "" && r.Method == http.MethodPost {
		p.mu.Lock()
		p.replies[key] = reply{status: status, body: out}
		p.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

func (p *Proxy) forward(r *http.Request, body []byte) (int, []byte) {
	u := *p.upstream
	u.Path, u.RawQuery = r.URL.Path, r.URL.RawQuery
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return http.StatusBadGateway, errorBody("api_error", "", "", err.Error())
	}
	req.Header = r.Header.Clone()
	req.Header.Del("Idempotency-Key") // stripe-mock keeps no state; replay is ours
	resp, err := p.client.Do(req)
	if err != nil {
		return http.StatusBadGateway, errorBody("api_error", "", "", err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (p *Proxy) apply(r *http.Request, body []byte, key string, out []byte) (int, []byte) {
	var obj map[string]any
	if err := json.Unmarshal(out, &obj); err != nil {
		return http.StatusOK, out
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v1/customers/"):
		p.mu.Lock()
		pm, ok := p.defaultPM[obj["id"].(string)]
		p.mu.Unlock()
		if !ok {
			pm = "pm_card_visa"
		}
		settings, _ := obj["invoice_settings"].(map[string]any)
		if settings == nil {
			settings = map[string]any{}
		}
		settings["default_payment_method"] = pm
		obj["invoice_settings"] = settings
	case r.Method == http.MethodPost && path == "/v1/payment_intents":
		form, _ := url.ParseQuery(string(body))
		in := &Intent{ID: obj["id"].(string), Customer: form.Get("customer"), PaymentMethod: form.Get("payment_method"),
			Currency: form.Get("currency"), IdempotencyKey: key, Status: "requires_confirmation", Metadata: formMetadata(form)}
		fmt.Sscan(form.Get("amount"), &in.Amount)
		if form.Get("confirm") == "true" {
			o, known := testOutcomes[in.PaymentMethod]
			if !known {
				o.status = "succeeded"
			}
			if o.code != "" {
				in.Status = "requires_payment_method"
				p.keep(in)
				obj = intentJSON(obj, in)
				return http.StatusPaymentRequired, errorBodyWithIntent(o.code, o.decline, obj)
			}
			in.Status = o.status
		}
		p.keep(in)
		obj = intentJSON(obj, in)
	case r.Method == http.MethodPost && path == "/v1/refunds":
		// A refund of a kept payment intent, for its amount or part of
		// it; Stripe refuses more than what is left unrefunded.
		form, _ := url.ParseQuery(string(body))
		rf := Refund{ID: obj["id"].(string), PaymentIntent: form.Get("payment_intent"), IdempotencyKey: key,
			Status: "succeeded", Metadata: formMetadata(form)}
		fmt.Sscan(form.Get("amount"), &rf.Amount)
		p.mu.Lock()
		in, ok := p.intents[rf.PaymentIntent]
		var left int64
		if ok {
			left = in.Amount
			for _, o := range p.refunds {
				if o.PaymentIntent == rf.PaymentIntent {
					left -= o.Amount
				}
			}
			if form.Get("amount") == "" {
				rf.Amount = left
			}
		}
		switch {
		case !ok:
			p.mu.Unlock()
			return http.StatusNotFound, errorBody("invalid_request_error", "resource_missing", "", "No such payment_intent: '"+rf.PaymentIntent+"'")
		case in.Status != "succeeded":
			p.mu.Unlock()
			return http.StatusBadRequest, errorBody("invalid_request_error", "", "", "This PaymentIntent does not have a successful charge to refund.")
		case rf.Amount > left || left == 0:
			p.mu.Unlock()
			return http.StatusBadRequest, errorBody("invalid_request_error", "charge_already_refunded", "",
				fmt.Sprintf("Refund amount (%d) is greater than unrefunded amount on charge (%d)", rf.Amount, left))
		}
		p.refunds = append(p.refunds, rf)
		p.mu.Unlock()
		obj["id"], obj["status"], obj["amount"], obj["payment_intent"], obj["metadata"] = rf.ID, rf.Status, rf.Amount, rf.PaymentIntent, rf.Metadata
	case r.Method == http.MethodPost && path == "/v1/transfers":
		form, _ := url.ParseQuery(string(body))
		tr := Transfer{Destination: form.Get("destination"), Currency: form.Get("currency"), TransferGroup: form.Get("transfer_group"),
			IdempotencyKey: key, Metadata: formMetadata(form)}
		fmt.Sscan(form.Get("amount"), &tr.Amount)
		p.mu.Lock()
		tr.ID = fmt.Sprintf("tr_test%d", len(p.transfers)+1)
		p.transfers = append(p.transfers, tr)
		p.mu.Unlock()
		obj["id"], obj["amount"], obj["currency"], obj["destination"], obj["transfer_group"], obj["metadata"] =
			tr.ID, tr.Amount, tr.Currency, tr.Destination, tr.TransferGroup, tr.Metadata
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v1/payment_intents/"):
		p.mu.Lock()
		in, ok := p.intents[strings.TrimPrefix(path, "/v1/payment_intents/")]
		p.mu.Unlock()
		if !ok {
			return http.StatusNotFound, errorBody("invalid_request_error", "resource_missing", "", "No such payment_intent")
		}
		obj = intentJSON(obj, in)
	}
	b, _ := json.Marshal(obj)
	return http.StatusOK, b
}

// formMetadata is the metadata[…] fields of a form.
func formMetadata(form url.Values) map[string]string {
	m := map[string]string{}
	for k, v := range form {
		if name, ok := strings.CutPrefix(k, "metadata["); ok {
			m[strings.TrimSuffix(name, "]")] = v[0]
		}
	}
	return m
}

func (p *Proxy) keep(in *Intent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.intents[in.ID] = in
}

func intentJSON(obj map[string]any, in *Intent) map[string]any {
	obj["id"], obj["status"], obj["amount"], obj["currency"] = in.ID, in.Status, in.Amount, in.Currency
	obj["customer"], obj["payment_method"] = in.Customer, in.PaymentMethod
	obj["metadata"] = in.Metadata
	obj["last_payment_error"] = nil
	obj["next_action"] = nil
	if in.Status == "succeeded" {
		obj["amount_received"] = in.Amount
	} else {
		obj["amount_received"] = 0
	}
	return obj
}

func errorBody(typ, code, decline, msg string) []byte {
	e := map[string]any{"type": typ, "message": msg}
	if code != "" {
		e["code"] = code
	}
	if decline != "" {
		e["decline_code"] = decline
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return b
}

func errorBodyWithIntent(code, decline string, intent map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"type": "card_error", "code": code, "decline_code": decline,
		"message": "Your card was declined.", "payment_intent": intent,
	}})
	return b
}
