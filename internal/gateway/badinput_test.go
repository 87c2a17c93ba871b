package gateway_test

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
)

// Every malformed request is a 4xx with a machine-readable crawler-error,
// never a 5xx, never a panic, and never reaches the origin.
func TestBadInputIs4xx(t *testing.T) {
	h := newHarness(t)
	c := h.newCrawler("op_bad", defaultTerms)
	signed := func(extra ...string) http.Header {
		req, _ := http.NewRequest("GET", h.srv.URL+"/articles/1", nil)
		for i := 0; i+1 < len(extra); i += 2 {
			req.Header.Set(extra[i], extra[i+1])
		}
		names := []string{}
		for i := 0; i+1 < len(extra); i += 2 {
			names = append(names, strings.ToLower(extra[i]))
		}
		if err := c.signer.Sign(req, names...); err != nil {
			t.Fatal(err)
		}
		return req.Header
	}
	maxPrice := []string{"crawler-max-price", "USD 0.05"}
	tests := []struct {
		name    string
		headers http.Header
		status  int
	}{
		{"garbage Signature-Input", http.Header{"Signature-Input": {"(((;;"}, "Signature": {"sig1=:AA==:"}, "Signature-Agent": {`a="https://x.example"`},
			"Crawler-Max-Price": {"USD 0.05"}}, 400},
		{"bare-token agent", func() http.Header { h := signed(maxPrice...); h.Set("Signature-Agent", "crawler.example"); return h }(), 400},
		{"agent neither host nor URL", func() http.Header { h := signed(maxPrice...); h.Set("Signature-Agent", "crawler.example/x"); return h }(), 400},
		{"unknown agent", func() http.Header {
			h := signed(maxPrice...)
			h.Set("Signature-Agent", `"http://unregistered.example"`)
			return h
		}(), 400},
		{"Payment not a dictionary", http.Header{"Payment": {`"deferred"`}}, 400},
		{"PAYMENT-SIGNATURE not base64", http.Header{"Payment-Signature": {"%%%"}}, 400},
		{"PAYMENT-SIGNATURE not JSON", http.Header{"Payment-Signature": {"bm90IGpzb24="}}, 400},
		{"both price headers", http.Header{"Crawler-Exact-Price": {"USD 0.01"}, "Crawler-Max-Price": {"USD 0.05"}}, 400},
		{"price not a number", http.Header{"Crawler-Max-Price": {"USD lots"}}, 400},
		{"price unsigned", http.Header{"Crawler-Max-Price": {"USD 0.05"}}, 400},
		{"huge Signature-Input", http.Header{"Signature-Input": {strings.Repeat("a", 50_000)}, "Signature": {"x"}, "Crawler-Max-Price": {"USD 0.05"}}, 400},
		{"forged offer id", signed("Payment", `scheme="deferred", network="paycrawl:402", id="9999999999.1.AAAAAAAAAAAAAAAAAAAAAA"`), 402},
		{"exact price below the price", signed("crawler-exact-price", "USD 0.001"), 402},
		{"currency mismatch", signed("crawler-max-price", "EUR 1.00"), 400},
		{"signed without payment", signed(), 402},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", h.srv.URL+"/articles/1", nil)
			for k, v := range tt.headers {
				req.Header[k] = v
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status || resp.Header.Get("crawler-error") == "" {
				t.Fatalf("status %d crawler-error %q, want %d", resp.StatusCode, resp.Header.Get("crawler-error"), tt.status)
			}
		})
	}
	if n := h.hits("/articles/1"); n != 0 {
		t.Fatalf("bad requests reached the origin %d times", n)
	}
}

// Random header soup never yields a 5xx.
func TestRandomHeadersNever5xx(t *testing.T) {
	h := newHarness(t)
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"Signature", "Signature-Input", "Signature-Agent", "Payment", "Payment-Signature", "X-Payment",
		"Crawler-Exact-Price", "Crawler-Max-Price"}
	alphabet := `abcAZ09 =;:,"()*?-_/+.%` + "\t"
	for i := 0; i < 300; i++ {
		req, _ := http.NewRequest("GET", h.srv.URL+"/articles/1", nil)
		for _, n := range names {
			if rng.IntN(2) == 0 {
				continue
			}
			b := make([]byte, rng.IntN(80))
			for j := range b {
				b[j] = alphabet[rng.IntN(len(alphabet))]
			}
			req.Header.Set(n, string(b))
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("headers %v: status %d", req.Header, resp.StatusCode)
		}
	}
}
