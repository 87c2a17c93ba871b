package deferred

import (
	"net/http"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/x402"
)

func encode(t *testing.T, v any) string {
	t.Helper()
	s, err := x402.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseIntent(t *testing.T) {
	usd := func(m money.Micros) money.Amount { return money.Amount{Currency: "USD", Value: m} }
	v2 := func(amount, asset string, extra map[string]any) string {
		return encode(t, x402.PaymentPayload{X402Version: 2,
			Accepted: x402.PaymentRequirements{Scheme: "deferred", Network: "paycrawl:402", Amount: amount, Asset: asset, PayTo: "pub_1", Extra: extra},
			Payload:  map[string]any{"amount": amount, "asset": asset}})
	}
	tests := []struct {
		name    string
		headers map[string]string
		want    *Intent
		code    Code
	}{
		{"none", nil, nil, ""},
		{"Payment", map[string]string{"Payment": `scheme="deferred", network="example-network-provider", id="abc123"`},
			&Intent{Dialect: DialectDeferred, Header: "payment", Scheme: "deferred", Network: "example-network-provider", OfferID: "abc123"}, ""},
		{"Payment with token values", map[string]string{"Payment": `scheme=deferred, id="abc123"`},
			&Intent{Dialect: DialectDeferred, Header: "payment", Scheme: "deferred", OfferID: "abc123"}, ""},
		{"Payment other scheme", map[string]string{"Payment": `scheme="exact", id="x"`}, nil, CodeSchemeUnsupported},
		{"Payment without id", map[string]string{"Payment": `scheme="deferred"`}, nil, CodePaymentMalformed},
		{"Payment not a dictionary", map[string]string{"Payment": `"deferred"`}, nil, CodePaymentMalformed},
		{"Payment member is a list", map[string]string{"Payment": `scheme=("a" "b"), id="x"`}, nil, CodePaymentMalformed},
		{"Payment oversize", map[string]string{"Payment": `scheme="deferred", id="` + strings.Repeat("a", 5000) + `"`}, nil, CodeHeaderTooLarge},
		{"PAYMENT-SIGNATURE", map[string]string{"PAYMENT-SIGNATURE": v2("10000", "USD", map[string]any{"id": "o1"})},
			&Intent{Dialect: DialectX402, Header: "payment-signature", Scheme: "deferred", Network: "paycrawl:402", PayTo: "pub_1", OfferID: "o1", Price: usd(10_000), HasPrice: true}, ""},
		{"PAYMENT-SIGNATURE under the v1 name", map[string]string{"X-PAYMENT": v2("10000", "USD", nil)},
			&Intent{Dialect: DialectX402, Header: "x-payment", Scheme: "deferred", Network: "paycrawl:402", PayTo: "pub_1", Price: usd(10_000), HasPrice: true}, ""},
		{"PAYMENT-SIGNATURE bad base64", map[string]string{"PAYMENT-SIGNATURE": "%%%not base64"}, nil, CodePaymentMalformed},
		{"PAYMENT-SIGNATURE bad JSON", map[string]string{"PAYMENT-SIGNATURE": "bm90IGpzb24="}, nil, CodePaymentMalformed},
		{"PAYMENT-SIGNATURE wrong version", map[string]string{"PAYMENT-SIGNATURE": encode(t, map[string]any{"x402Version": 7})}, nil, CodePaymentMalformed},
		{"PAYMENT-SIGNATURE exact scheme", map[string]string{"PAYMENT-SIGNATURE": encode(t, x402.PaymentPayload{X402Version: 2,
			Accepted: x402.PaymentRequirements{Scheme: "exact", Amount: "1", Asset: "USD"}})}, nil, CodeSchemeUnsupported},
		{"PAYMENT-SIGNATURE decimal amount", map[string]string{"PAYMENT-SIGNATURE": v2("0.01", "USD", nil)}, nil, CodePriceInvalid},
		{"PAYMENT-SIGNATURE negative amount", map[string]string{"PAYMENT-SIGNATURE": v2("-1", "USD", nil)}, nil, CodePriceInvalid},
		{"PAYMENT-SIGNATURE huge amount", map[string]string{"PAYMENT-SIGNATURE": v2("99999999999999999999", "USD", nil)}, nil, CodePriceInvalid},
		{"PAYMENT-SIGNATURE bad asset", map[string]string{"PAYMENT-SIGNATURE": v2("1", "usd", nil)}, nil, CodePriceInvalid},
		{"PAYMENT-SIGNATURE payload disagrees", map[string]string{"PAYMENT-SIGNATURE": encode(t, x402.PaymentPayload{X402Version: 2,
			Accepted: x402.PaymentRequirements{Scheme: "deferred", Amount: "10000", Asset: "USD"}, Payload: map[string]any{"amount": "1"}})}, nil, CodePriceConflict},
		{"PAYMENT-SIGNATURE oversize", map[string]string{"PAYMENT-SIGNATURE": strings.Repeat("A", 9000)}, nil, CodeHeaderTooLarge},
		{"exact price", map[string]string{"crawler-exact-price": "USD 0.01"},
			&Intent{Dialect: DialectCrawlerPrice, Header: "crawler-exact-price", Price: usd(10_000), HasPrice: true, Exact: true}, ""},
		{"max price", map[string]string{"crawler-max-price": "USD 0.05"},
			&Intent{Dialect: DialectCrawlerPrice, Header: "crawler-max-price", Price: usd(50_000), HasPrice: true}, ""},
		{"both price headers", map[string]string{"crawler-exact-price": "USD 0.01", "crawler-max-price": "USD 0.05"}, nil, CodePriceConflict},
		{"bad price", map[string]string{"crawler-max-price": "USD lots"}, nil, CodePriceInvalid},
		{"price without currency", map[string]string{"crawler-max-price": "0.05"}, nil, CodePriceInvalid},
		{"two dialects", map[string]string{"Payment": `scheme="deferred", id="x"`, "crawler-max-price": "USD 0.05"}, nil, CodePaymentConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			got, err := ParseIntent(h)
			if tt.code != "" {
				if CodeOf(err) != tt.code {
					t.Fatalf("got %+v, %v; want %s", got, err, tt.code)
				}
				if tt.code.Status() >= 500 {
					t.Fatalf("malformed input mapped to %d", tt.code.Status())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNormalizeAuthority(t *testing.T) {
	tests := []struct{ in, scheme, want string }{
		{"Example.COM", "https", "example.com"},
		{"example.com:443", "https", "example.com"},
		{"example.com:443", "http", "example.com:443"},
		{"example.com:80", "http", "example.com"},
		{"127.0.0.1:8402", "http", "127.0.0.1:8402"},
		{"[::1]:443", "https", "[::1]"},
		{"[::1]:8443", "https", "[::1]:8443"},
	}
	for _, tt := range tests {
		if got := NormalizeAuthority(tt.in, tt.scheme); got != tt.want {
			t.Errorf("NormalizeAuthority(%q, %q) = %q, want %q", tt.in, tt.scheme, got, tt.want)
		}
	}
}
