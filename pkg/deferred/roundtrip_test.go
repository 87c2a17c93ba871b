package deferred

import (
	"io"
	"net/http"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/x402"
)

func TestTransportRoundTrip(t *testing.T) {
	tests := []struct {
		name         string
		dialect      Dialect
		preAuthorize bool
		wantOffers   int
	}{
		{"deferred Payment header", DialectDeferred, false, 1},
		{"x402 v2 PAYMENT-SIGNATURE", DialectX402, false, 1},
		{"crawler-exact-price", DialectCrawlerPrice, false, 1},
		{"pre-authorized crawler-max-price", DialectDeferred, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, key, signer := testKey(t)
			wall, srv := startPaywall(t, key)
			var receipts []*Receipt
			offers := 0
			tr := &Transport{
				Signer: signer, MaxPrice: money.Amount{Currency: "USD", Value: 50_000},
				Dialect: tt.dialect, PreAuthorize: tt.preAuthorize,
				OnReceipt: func(_ *http.Request, r *Receipt) { receipts = append(receipts, r) },
				OnOffer:   func(_ *http.Request, _ *ReceivedOffer, accepted bool) { offers++ },
			}
			resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/articles/1")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "paid content" {
				t.Fatalf("status %d, body %q, crawler-error %q", resp.StatusCode, body, resp.Header.Get(HeaderCrawlerError))
			}
			if offers != tt.wantOffers {
				t.Errorf("offers seen = %d, want %d", offers, tt.wantOffers)
			}
			if len(receipts) != 1 {
				t.Fatalf("receipts = %d, want 1", len(receipts))
			}
			want := money.Amount{Currency: "USD", Value: 10_000}
			if receipts[0].Charged != want || receipts[0].CommitmentID == "" || receipts[0].Payer != testAgent {
				t.Errorf("receipt = %+v", receipts[0])
			}
			if wall.chargeCount() != 1 {
				t.Errorf("server recorded %d charges, want 1", wall.chargeCount())
			}
			for _, h := range []string{HeaderPaymentResponse, HeaderCrawlerCharged} {
				if resp.Header.Get(h) == "" {
					t.Errorf("response lacks %s", h)
				}
			}
			// An x402 client gets the base64 SettleResponse, others the dictionary.
			var sr x402.SettleResponse
			isV2 := x402.Decode(resp.Header.Get(x402.HeaderPaymentResponse), &sr) == nil
			if isV2 != (tt.dialect == DialectX402 && !tt.preAuthorize) {
				t.Errorf("PAYMENT-RESPONSE form: base64 JSON = %v for dialect %s", isV2, tt.dialect)
			}
			if isV2 && (!sr.Success || sr.Transaction == "") {
				t.Errorf("SettleResponse = %+v: want success and the commitment id in transaction", sr)
			}
		})
	}
}

func TestTransportRefusesPriceAboveMax(t *testing.T) {
	_, key, signer := testKey(t)
	wall, srv := startPaywall(t, key)
	var accepted []bool
	tr := &Transport{Signer: signer, MaxPrice: money.Amount{Currency: "USD", Value: 9_999},
		OnOffer: func(_ *http.Request, _ *ReceivedOffer, ok bool) { accepted = append(accepted, ok) }}
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/a")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPaymentRequired || len(accepted) != 1 || accepted[0] {
		t.Fatalf("status %d, accepted %v: want the 402 back, unpaid", resp.StatusCode, accepted)
	}
	if wall.chargeCount() != 0 {
		t.Fatal("charged although the price was above the max")
	}
	// Pre-authorized with a max below the price: the server refuses with the max-price code.
	tr.PreAuthorize = true
	resp, err = (&http.Client{Transport: tr}).Get(srv.URL + "/a")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get(HeaderCrawlerError); resp.StatusCode != http.StatusPaymentRequired || got != InvalidCrawlerMaxPrice {
		t.Fatalf("status %d crawler-error %q, want 402 %s", resp.StatusCode, got, InvalidCrawlerMaxPrice)
	}
}

func TestTransportReplayRefused(t *testing.T) {
	_, key, signer := testKey(t)
	wall, srv := startPaywall(t, key)
	// Capture the paid request and send it again verbatim.
	var paid *http.Request
	capture := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Header.Get(HeaderPayment) != "" {
			paid = r.Clone(r.Context())
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	tr := &Transport{Base: capture, Signer: signer, MaxPrice: money.Amount{Currency: "USD", Value: 10_000}}
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/a")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || paid == nil {
		t.Fatalf("first request: status %d", resp.StatusCode)
	}
	resp, err = http.DefaultTransport.RoundTrip(paid)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || wall.chargeCount() != 1 {
		t.Fatalf("replay: status %d, charges %d; want 400 and one charge", resp.StatusCode, wall.chargeCount())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
