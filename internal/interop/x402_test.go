package interop

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/x402"
)

// x402Answer is what interop/x402.mjs reports of @x402/core's reading.
type x402Answer struct {
	Mode             string               `json:"mode"`
	PaymentRequired  x402.PaymentRequired `json:"paymentRequired"`
	PaymentSignature string               `json:"paymentSignature"`
	PaymentPayload   x402.PaymentPayload  `json:"paymentPayload"`
	SettleResponse   *x402.SettleResponse `json:"settleResponse"`
}

// offerServer answers every request with paycrawl's 402 offer, written by
// the gateway's offer writer (deferred.Offer.WriteHeaders), and returns the
// offers issuer to check payments against.
func offerServer(t *testing.T, q deferred.Quote) (*deferred.Offers, *httptest.Server) {
	t.Helper()
	offers, err := deferred.NewOffers([][]byte{[]byte(strings.Repeat("k", 32))}, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := offers.New(q).WriteHeaders(w.Header(), deferred.CodePaymentRequired); err != nil {
			t.Error(err)
		}
		w.WriteHeader(http.StatusPaymentRequired)
	}))
	t.Cleanup(srv.Close)
	return offers, srv
}

// TestX402CoreRoundTrip feeds paycrawl's 402 to @x402/core (npm): its
// decoder and schema parse the offer, its client builds a PaymentPayload,
// the gateway's intent reader accepts that payload and charges the price,
// and @x402/core reads the PAYMENT-RESPONSE back.
func TestX402CoreRoundTrip(t *testing.T) {
	q := deferred.Quote{Resource: "https://news.example/a", Authority: "news.example", Path: "/a",
		Price: money.Amount{Currency: "USD", Value: 500}, PayTo: "pub_1", Network: deferred.NetworkPaycrawl,
		RegistrationURL: "https://keys.example/register"} // USD 0.0005: a sub-cent price
	offers, srv := offerServer(t, q)
	resp, err := http.Get(srv.URL + "/a")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	required := resp.Header.Get(x402.HeaderPaymentRequired)
	if resp.StatusCode != http.StatusPaymentRequired || required == "" {
		t.Fatalf("status %d, PAYMENT-REQUIRED %q", resp.StatusCode, required)
	}

	for _, mode := range []string{"declared-asset", "allowed-asset"} {
		t.Run(mode, func(t *testing.T) {
			var got x402Answer
			RunJSON(t, map[string]string{"paymentRequired": required, "spendControls": mode}, &got, "x402.mjs")
			acc := got.PaymentPayload.Accepted
			if len(got.PaymentRequired.Accepts) != 2 || acc.Scheme != deferred.SchemeBatchSettlement ||
				acc.Network != deferred.NetworkPaycrawl || acc.Amount != "500" || acc.Asset != "USD" {
				t.Fatalf("@x402/core chose %+v from %+v", acc, got.PaymentRequired.Accepts)
			}
			if got.PaymentPayload.Payload["amount"] != "500" || got.PaymentPayload.Resource == nil ||
				got.PaymentPayload.Extensions[x402.ExtensionHTTPMessageSignatures] == nil {
				t.Errorf("payload = %+v: want the amount in micro-units, resource and extensions echoed", got.PaymentPayload)
			}

			// The gateway reads @x402/core's header as its own.
			h := http.Header{}
			h.Set(x402.HeaderPaymentSignature, got.PaymentSignature)
			in, err := deferred.ParseIntent(h)
			if err != nil {
				t.Fatalf("ParseIntent(@x402/core's PAYMENT-SIGNATURE): %v", err)
			}
			charged, err := offers.Accept(in, q)
			if err != nil || charged != q.Price {
				t.Fatalf("Accept = %v, %v; want %v", charged, err, q.Price)
			}

			// And @x402/core reads the gateway's PAYMENT-RESPONSE.
			rc := deferred.Receipt{Scheme: in.Scheme, Network: deferred.NetworkPaycrawl, OfferID: in.OfferID,
				CommitmentID: "1800000000000-0", Payer: "https://crawler.example", Charged: charged, Timestamp: time.Now()}
			rh := http.Header{}
			if err := rc.WriteHeaders(rh, deferred.DialectX402); err != nil {
				t.Fatal(err)
			}
			var settled x402Answer
			RunJSON(t, map[string]string{"paymentResponse": rh.Get(x402.HeaderPaymentResponse)}, &settled, "x402.mjs")
			sr := settled.SettleResponse
			if sr == nil || !sr.Success || sr.Transaction != rc.CommitmentID || sr.Amount != "500" || sr.Network != deferred.NetworkPaycrawl {
				t.Fatalf("@x402/core read the SettleResponse as %+v", sr)
			}
		})
	}

	// With its defaults and a scheme client that declares no asset, the
	// client refuses "USD": the setting documented in the binding's §9.
	raw, _ := json.Marshal(map[string]string{"paymentRequired": required, "spendControls": "default"})
	if out, err := Try(t, raw, "x402.mjs"); err == nil || !strings.Contains(err.Error(), "spendControls") {
		t.Fatalf("default spend controls: %s, %v; want the refusal the binding documents", out, err)
	}
}
