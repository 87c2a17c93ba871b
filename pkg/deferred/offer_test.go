package deferred

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/x402"
)

func testQuote() Quote {
	return Quote{Resource: "https://news.example/a", Authority: "news.example", Path: "/a",
		Price: money.Amount{Currency: "USD", Value: 10_000}, PayTo: "pub_1", Network: "paycrawl:402",
		TermsURL: "https://news.example/terms", RegistrationURL: "https://keys.example/register"}
}

func TestOfferCheck(t *testing.T) {
	clock := time.Unix(1_800_000_000, 0)
	now := func() time.Time { return clock }
	o := testOffers(t, now)
	offer := o.New(testQuote())
	q := testQuote()

	if got, err := o.Check(offer.ID, "USD", q.PayTo, q.Authority, q.Path); err != nil || got != q.Price {
		t.Fatalf("Check(valid) = %v, %v", got, err)
	}
	parts := strings.Split(offer.ID, ".")
	tests := []struct {
		name                       string
		id, cur, payTo, auth, path string
		want                       Code
	}{
		{"lower price claimed", parts[0] + ".1." + parts[2], "USD", "pub_1", "news.example", "/a", CodeOfferInvalid},
		{"later expiry claimed", "1900000000." + parts[1] + "." + parts[2], "USD", "pub_1", "news.example", "/a", CodeOfferInvalid},
		{"forged mac", parts[0] + "." + parts[1] + ".AAAAAAAAAAAAAAAAAAAAAA", "USD", "pub_1", "news.example", "/a", CodeOfferInvalid},
		{"other path", offer.ID, "USD", "pub_1", "news.example", "/b", CodeOfferInvalid},
		{"other host", offer.ID, "USD", "pub_1", "evil.example", "/a", CodeOfferInvalid},
		{"other publisher", offer.ID, "USD", "pub_2", "news.example", "/a", CodeOfferInvalid},
		{"other currency", offer.ID, "EUR", "pub_1", "news.example", "/a", CodeOfferInvalid},
		{"garbage", "abc", "USD", "pub_1", "news.example", "/a", CodeOfferInvalid},
		{"too long", strings.Repeat("1", 200), "USD", "pub_1", "news.example", "/a", CodeOfferInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := o.Check(tt.id, tt.cur, tt.payTo, tt.auth, tt.path)
			if CodeOf(err) != tt.want {
				t.Fatalf("got %v, want %s", err, tt.want)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		clock = clock.Add(o.TTL() + time.Second)
		defer func() { clock = clock.Add(-o.TTL() - time.Second) }()
		if _, err := o.Check(offer.ID, "USD", q.PayTo, q.Authority, q.Path); CodeOf(err) != CodeOfferExpired {
			t.Fatalf("got %v, want %s", err, CodeOfferExpired)
		}
	})
	t.Run("key rotation", func(t *testing.T) {
		rotated, err := NewOffers([][]byte{[]byte(strings.Repeat("n", 32)), []byte(strings.Repeat("k", 32))}, time.Minute, now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rotated.Check(offer.ID, "USD", q.PayTo, q.Authority, q.Path); err != nil {
			t.Fatalf("an id signed with the previous key: %v", err)
		}
	})
}

func TestNewOffersRejectsShortKey(t *testing.T) {
	if _, err := NewOffers([][]byte{[]byte("short")}, 0, nil); err == nil {
		t.Fatal("a 5-byte offer key was accepted")
	}
	if _, err := NewOffers(nil, 0, nil); err == nil {
		t.Fatal("no offer key was accepted")
	}
}

func TestOfferAccept(t *testing.T) {
	o := testOffers(t, nil)
	q := testQuote()
	id := o.New(q).ID
	usd := func(m money.Micros) money.Amount { return money.Amount{Currency: "USD", Value: m} }
	cheaper := q
	cheaper.Price = usd(5_000)
	tests := []struct {
		name   string
		intent Intent
		quote  Quote
		want   money.Amount
		code   Code
	}{
		{"offer id", Intent{OfferID: id}, q, usd(10_000), ""},
		{"offer id, price since lowered", Intent{OfferID: id}, cheaper, usd(5_000), ""},
		{"offer id with matching amount", Intent{OfferID: id, HasPrice: true, Price: usd(10_000), Exact: true}, q, usd(10_000), ""},
		{"offer id with a lower amount", Intent{OfferID: id, HasPrice: true, Price: usd(1), Exact: true}, q, money.Amount{}, CodePriceNotExact},
		{"offer id with a ceiling above", Intent{OfferID: id, HasPrice: true, Price: usd(50_000)}, q, usd(10_000), ""},
		{"offer id with a ceiling below", Intent{OfferID: id, HasPrice: true, Price: usd(9_999)}, q, money.Amount{}, CodePriceAboveMax},
		{"offer id with a ceiling in another currency", Intent{OfferID: id, HasPrice: true, Price: money.Amount{Currency: "EUR", Value: 50_000}}, q, money.Amount{}, CodeCurrencyMismatch},
		{"exact price equal", Intent{HasPrice: true, Exact: true, Price: usd(10_000)}, q, usd(10_000), ""},
		{"exact price lower", Intent{HasPrice: true, Exact: true, Price: usd(9_999)}, q, money.Amount{}, CodePriceNotExact},
		{"max price above", Intent{HasPrice: true, Price: usd(50_000)}, q, usd(10_000), ""},
		{"max price equal", Intent{HasPrice: true, Price: usd(10_000)}, q, usd(10_000), ""},
		{"max price below", Intent{HasPrice: true, Price: usd(9_999)}, q, money.Amount{}, CodePriceAboveMax},
		{"other currency", Intent{HasPrice: true, Price: money.Amount{Currency: "EUR", Value: 50_000}}, q, money.Amount{}, CodeCurrencyMismatch},
		{"nothing", Intent{}, q, money.Amount{}, CodePaymentRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := o.Accept(&tt.intent, tt.quote)
			if tt.code != "" {
				if CodeOf(err) != tt.code {
					t.Fatalf("got %v, %v; want %s", got, err, tt.code)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestOfferRendering(t *testing.T) {
	offer := testOffers(t, nil).New(testQuote())
	h := http.Header{}
	if err := offer.WriteHeaders(h, CodePaymentRequired); err != nil {
		t.Fatal(err)
	}
	if got := h.Get(HeaderCrawlerPrice); got != "USD 0.01" {
		t.Errorf("crawler-price = %q", got)
	}
	v2 := h.Get(x402.HeaderPaymentRequired)
	if len(v2) > 2048 {
		t.Errorf("PAYMENT-REQUIRED is %d bytes, over 2 KB", len(v2))
	}
	var pr x402.PaymentRequired
	if err := x402.Decode(v2, &pr); err != nil {
		t.Fatal(err)
	}
	if pr.X402Version != 2 || len(pr.Accepts) != 2 || pr.Accepts[0].Scheme != SchemeBatchSettlement ||
		pr.Accepts[1].Scheme != SchemeDeferred || pr.Accepts[0].Amount != "10000" || pr.Resource.URL != offer.Resource {
		t.Errorf("PAYMENT-REQUIRED = %+v", pr)
	}
	ext, _ := pr.Extensions["http-message-signatures"].(map[string]any)
	info, _ := ext["info"].(map[string]any)
	if info["registrationUrl"] != "https://keys.example/register" {
		t.Errorf("extension = %v", pr.Extensions)
	}
	body, err := json.Marshal(offer.V1Body("Payment required"))
	if err != nil {
		t.Fatal(err)
	}
	var v1 map[string]any
	_ = json.Unmarshal(body, &v1)
	acc := v1["accepts"].([]any)[0].(map[string]any)
	extra := acc["extra"].(map[string]any)
	if v1["x402Version"] != 1.0 || acc["scheme"] != "deferred" || acc["maxAmountRequired"] != "10000" ||
		extra["id"] != offer.ID || extra["termsUrl"] != "https://news.example/terms" {
		t.Errorf("v1 body = %s", body)
	}
	// A crawler reads the offer back from either place.
	got, err := ParseOffer(h, body)
	if err != nil || got.ID != offer.ID || got.Price != offer.Price || got.Dialect != DialectX402 {
		t.Errorf("ParseOffer(headers) = %+v, %v", got, err)
	}
	got, err = ParseOffer(http.Header{}, body)
	if err != nil || got.ID != offer.ID || got.Price != offer.Price || got.Dialect != DialectDeferred {
		t.Errorf("ParseOffer(body) = %+v, %v", got, err)
	}
	// The blog post's "extras" spelling is read too.
	blog := strings.Replace(string(body), `"extra"`, `"extras"`, 1)
	if got, err = ParseOffer(http.Header{}, []byte(blog)); err != nil || got.ID != offer.ID {
		t.Errorf("ParseOffer(extras) = %+v, %v", got, err)
	}
}
