package facilitator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/paywall/keys"

	"github.com/paycrawl/paycrawl/internal/facilitator"
	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/internal/testcrawler"
	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/x402"
)

// env is a facilitator on a real ledger and registry, with one publisher.
type env struct {
	t         *testing.T
	ledger    *ledger.Ledger
	reg       *testcrawler.Registry
	srv       *httptest.Server
	publisher string
	token     string
}

func newEnv(t *testing.T, o facilitator.Options) *env {
	t.Helper()
	e := &env{t: t, reg: testcrawler.Start(t)}
	rdb := testredis.Start(t, testredis.Options{}).Client()
	var err error
	if e.ledger, err = ledger.New(rdb, ledger.Options{}); err != nil {
		t.Fatal(err)
	}
	p, tok, err := e.reg.Store.CreatePublisher(context.Background(), registry.PublisherSpec{Name: "API", Contact: "ops@api.example"})
	if err != nil {
		t.Fatal(err)
	}
	e.publisher, e.token = p.ID, tok
	o.Ledger, o.Accounts, o.Publishers = e.ledger, keys.Accounts(e.reg.Resolver), e.reg.Store
	f, err := facilitator.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(httpx.Middleware(slog.New(slog.DiscardHandler), f))
	t.Cleanup(e.srv.Close)
	return e
}

// requirements are the resource server's terms: price micro-USD to the
// env's publisher.
func (e *env) requirements(price string) x402.PaymentRequirements {
	return x402.PaymentRequirements{Scheme: deferred.SchemeBatchSettlement, Network: "paycrawl:402", Amount: price, Asset: "USD",
		PayTo: e.publisher, MaxTimeoutSeconds: 60, Extra: map[string]any{"version": deferred.BindingVersion, "id": "rs-offer-1"}}
}

// paidRequest is what a crawler sends the resource server: a GET of url
// with a PAYMENT-SIGNATURE committing up to ceiling, signed; and the
// facilitator request body the resource server makes of it.
func (e *env) paidRequest(c *testcrawler.Crawler, url string, req x402.PaymentRequirements, ceiling string) map[string]any {
	e.t.Helper()
	payload := x402.PaymentPayload{X402Version: 2, Accepted: req, Payload: map[string]any{"amount": ceiling, "asset": req.Asset}}
	hv, err := x402.Encode(payload)
	if err != nil {
		e.t.Fatal(err)
	}
	r, _ := http.NewRequest("GET", url, nil)
	r.Header.Set(x402.HeaderPaymentSignature, hv)
	if err := c.Signer.Sign(r, "payment-signature"); err != nil {
		e.t.Fatal(err)
	}
	headers := map[string]string{}
	for _, name := range []string{"signature-agent", "signature-input", "signature", "payment-signature"} {
		headers[name] = r.Header.Get(name)
	}
	return map[string]any{
		"x402Version": 2,
		"paymentPayload": map[string]any{
			"x402Version": 2, "accepted": req, "payload": payload.Payload,
			"extensions": map[string]any{facilitator.ExtensionSignedRequest: map[string]any{"method": "GET", "url": url, "headers": headers}},
		},
		"paymentRequirements": req,
	}
}

// post sends body (JSON-encoded unless it is a string) with the token and
// decodes the answer into out.
func (e *env) post(path, token string, body any, out any) int {
	e.t.Helper()
	var b []byte
	if s, ok := body.(string); ok {
		b = []byte(s)
	} else {
		b, _ = json.Marshal(body)
	}
	r, _ := http.NewRequest("POST", e.srv.URL+path, bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s: %d %s: %v", path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

func (e *env) commitments(operator string) []*ledger.Commitment {
	e.t.Helper()
	var out []*ledger.Commitment
	if err := e.ledger.Commitments(context.Background(), operator, ledger.Day(time.Now()), func(c *ledger.Commitment) error {
		out = append(out, c)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}
