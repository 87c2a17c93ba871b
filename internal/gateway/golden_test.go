package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/gateway"
	"github.com/paycrawl/paycrawl/internal/golden"
	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// goldenConfig is a gateway whose answers are fixed: a fixed offer key and
// clock, and an origin that refusals never reach.
const goldenConfig = `
registration_url: https://keys.example/register
offer_keys: ["` + "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" + `"]
max_body_bytes: 16
registry:
  public_url: https://keys.example
signatures:
  profile: %s
sites:
  - host: news.example
    origin: http://127.0.0.1:9
    publisher: pub_news
    currency: USD
    default_price: "0.01"
    terms_url: https://news.example/terms
    rules:
      - prefix: /free/
        free: true
`

// goldenNow is the golden gateway's clock, and the signatures' created.
var goldenNow = time.Unix(1798761600, 0)

// noAccounts knows no crawler: the golden refusals are all decided before
// a key is looked up.
type noAccounts struct{}

func (noAccounts) ResolveKey(context.Context, string, string) (deferred.ResolvedKey, error) {
	return deferred.ResolvedKey{}, deferred.Errorf(deferred.CodeAgentUnknown, "no agents here")
}

func (noAccounts) Billing(context.Context, string) (gateway.Billing, error) {
	return gateway.Billing{}, deferred.Errorf(deferred.CodeBillingMissing, "no billing here")
}

func goldenGateway(t *testing.T, profile deferred.Profile) *gateway.Gateway {
	t.Helper()
	cfg, err := gateway.ParseConfig(fmt.Appendf(nil, goldenConfig, profile))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Options{Config: cfg, Accounts: noAccounts{}, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return goldenNow }})
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

// render writes a response as the golden files hold it: the status, the
// headers in order (PAYMENT-REQUIRED decoded), and the body.
func render(t *testing.T, rec *httptest.ResponseRecorder) []byte {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP %d\n", rec.Code)
	names := make([]string, 0, len(rec.Header()))
	for k := range rec.Header() {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v := strings.Join(rec.Header().Values(k), ", ")
		if k == "Payment-Required" {
			raw, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Fatalf("PAYMENT-REQUIRED is not base64: %v", err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, raw, "  ", "  "); err != nil {
				t.Fatalf("PAYMENT-REQUIRED is not JSON: %v", err)
			}
			v = "(decoded)\n  " + pretty.String()
		}
		fmt.Fprintf(&b, "%s: %s\n", k, v)
	}
	b.WriteString("\n")
	b.Write(rec.Body.Bytes())
	return b.Bytes()
}

// goldenSigner signs with a fixed key, clock and nonce.
func goldenSigner(t *testing.T) *deferred.Signer {
	t.Helper()
	seed := bytes.Repeat([]byte{7}, 32)
	s, err := deferred.NewSigner(ed25519.NewKeyFromSeed(seed), "https://crawler.example")
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return goldenNow }
	s.Rand = bytes.NewReader(make([]byte, 64))
	return s
}

// The 402 offer and every kind of refusal, as a crawler sees them: one
// encoder, crawler-error and the x402 code on each, one body shape (the x402
// version 1 PaymentRequired for an offer, {code, message, crawlerError,
// x402Error} for the rest), Accept-Signature where a signature or a
// component is missing.
func TestGoldenRefusals(t *testing.T) {
	tests := []struct {
		name    string
		profile deferred.Profile
		req     func() *http.Request
	}{
		{"offer-402", deferred.ProfileReference, func() *http.Request {
			return httptest.NewRequest("GET", "http://news.example/articles/1", nil)
		}},
		{"offer-402-signed-unpaid", deferred.ProfileReference, func() *http.Request {
			r := httptest.NewRequest("GET", "http://news.example/articles/1", nil)
			if err := goldenSigner(t).Sign(r); err != nil {
				t.Fatal(err)
			}
			return r
		}},
		{"unknown-site", deferred.ProfileReference, func() *http.Request {
			return httptest.NewRequest("GET", "http://other.example/articles/1", nil)
		}},
		{"path-not-canonical", deferred.ProfileReference, func() *http.Request {
			return httptest.NewRequest("GET", "http://news.example/free/../articles/1", nil)
		}},
		{"body-too-large", deferred.ProfileReference, func() *http.Request {
			return httptest.NewRequest("POST", "http://news.example/free/form", strings.NewReader(strings.Repeat("x", 17)))
		}},
		{"signature-required", deferred.ProfileReference, func() *http.Request {
			r := httptest.NewRequest("GET", "http://news.example/articles/1", nil)
			r.Header.Set(deferred.HeaderCrawlerMaxPrice, "USD 0.05")
			return r
		}},
		{"component-not-covered-strict", deferred.ProfileStrict, func() *http.Request {
			r := httptest.NewRequest("GET", "http://news.example/articles/1", nil)
			r.Header.Set(deferred.HeaderCrawlerMaxPrice, "USD 0.05")
			if err := goldenSigner(t).Sign(r, deferred.HeaderCrawlerMaxPrice); err != nil {
				t.Fatal(err)
			}
			return r
		}},
		{"payment-not-covered", deferred.ProfileReference, func() *http.Request {
			r := httptest.NewRequest("GET", "http://news.example/articles/1", nil)
			if err := goldenSigner(t).Sign(r); err != nil {
				t.Fatal(err)
			}
			r.Header.Set(deferred.HeaderCrawlerMaxPrice, "USD 0.05")
			return r
		}},
		{"agent-unknown", deferred.ProfileReference, func() *http.Request {
			r := httptest.NewRequest("GET", "http://news.example/articles/1", nil)
			r.Header.Set(deferred.HeaderCrawlerMaxPrice, "USD 0.05")
			if err := goldenSigner(t).Sign(r, deferred.HeaderCrawlerMaxPrice); err != nil {
				t.Fatal(err)
			}
			return r
		}},
		{"conflicting-price-headers", deferred.ProfileReference, func() *http.Request {
			r := httptest.NewRequest("GET", "http://news.example/articles/1", nil)
			r.Header.Set(deferred.HeaderCrawlerMaxPrice, "USD 0.05")
			r.Header.Set(deferred.HeaderCrawlerExactPrice, "USD 0.01")
			return r
		}},
		{"price-invalid", deferred.ProfileReference, func() *http.Request {
			r := httptest.NewRequest("GET", "http://news.example/articles/1", nil)
			r.Header.Set(deferred.HeaderCrawlerMaxPrice, "USD lots")
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := goldenGateway(t, tt.profile)
			rec := httptest.NewRecorder()
			gw.ServeHTTP(rec, tt.req())
			if rec.Code < 400 || rec.Code > 499 || rec.Header().Get(deferred.HeaderCrawlerError) == "" {
				t.Fatalf("%d, crawler-error %q: want a coded 4xx", rec.Code, rec.Header().Get(deferred.HeaderCrawlerError))
			}
			if rec.Code != http.StatusPaymentRequired {
				var body struct{ Code, Message, CrawlerError, X402Error string }
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Code == "" || body.Message == "" ||
					body.CrawlerError != rec.Header().Get(deferred.HeaderCrawlerError) || body.X402Error == "" {
					t.Fatalf("refusal body %s (%v): want {code, message, crawlerError, x402Error}", rec.Body, err)
				}
			}
			golden.Compare(t, "refusal-"+tt.name+".golden", render(t, rec))
		})
	}
}
