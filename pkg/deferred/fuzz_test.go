package deferred

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The fuzz targets feed hostile header values to every parser: none may
// panic, and every error must be a 4xx-class *Error.

func checkRefusal(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if c := CodeOf(err); c == CodeInternal || c.Status() >= 500 && c != CodeDirectoryUnavailable {
		t.Fatalf("parser error mapped to %s (%d): %v", c, c.Status(), err)
	}
}

func FuzzParseIntent(f *testing.F) {
	f.Add(`scheme="deferred", network="n", id="abc123"`, "", "", "")
	f.Add("", "eyJ4NDAyVmVyc2lvbiI6Mn0=", "", "")
	f.Add("", "", "USD 0.01", "")
	f.Add("", "", "", "USD 0.05")
	f.Add(`scheme=("a"), id=?1`, "%%%", "USD -1", "EUR 1e3")
	f.Fuzz(func(t *testing.T, payment, sig, exact, maxp string) {
		h := http.Header{}
		for name, v := range map[string]string{"Payment": payment, "PAYMENT-SIGNATURE": sig, HeaderCrawlerExactPrice: exact, HeaderCrawlerMaxPrice: maxp} {
			if v != "" {
				h.Set(name, v)
			}
		}
		in, err := ParseIntent(h)
		checkRefusal(t, err)
		if err == nil && in != nil && in.HasPrice && in.Price.Value < 0 {
			t.Fatalf("negative price accepted: %+v", in)
		}
	})
}

func FuzzParseSignatureAgent(f *testing.F) {
	for _, s := range []string{`"https://a.example"`, `a="https://a.example"`, `signer.example`, `a=(1 2)`, `"`, `a="x", b=?0`,
		`sig1="https://a.example/jwks.json";type=jwks_uri`, `sig1="https://a.example/card";type=cimd, b="https://b.example";type=directory`,
		`a="https://a.example";type=other`, `a="https://a.example";type=?1`, `mycrawler.com:8443`, `MyCrawler.com`, `a..b`, `host:0`} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, v string, bare bool) {
		h := http.Header{}
		h.Set("Signature-Agent", v)
		got, err := ParseSignatureAgentWith(h, AgentParseOptions{AllowBareHost: bare})
		checkRefusal(t, err)
		if err != nil {
			return
		}
		if got.BareHost && (!bare || !got.Legacy || len(got.Agents) != 1) {
			t.Fatalf("bare host %+v with AllowBareHost %v", got, bare)
		}
		for _, a := range got.Agents {
			if _, err := checkAgentURL(a.URL); err != nil {
				t.Fatalf("accepted agent %q: %v", a.URL, err)
			}
			if !a.Kind().Known() {
				t.Fatalf("accepted agent %+v of an unknown type", a)
			}
			if _, err := a.KeysURL(); err != nil && a.Kind() != AgentDirectory {
				t.Fatalf("agent %+v has no keys URL: %v", a, err)
			}
		}
		if !bare {
			if plain, err := ParseSignatureAgent(h); err != nil || len(plain.Agents) != len(got.Agents) {
				t.Fatalf("ParseSignatureAgent differs from the zero options: %+v, %v", plain, err)
			}
		}
	})
}

func FuzzVerifyHeaders(f *testing.F) {
	f.Add(vectorA.agent, vectorA.input, vectorA.sig)
	f.Add(vectorB.agent, vectorB.input, vectorB.sig)
	f.Add(`agent1="https://x.example"`, `sig1=("@authority";req);created=1;expires=2;keyid="k";tag="web-bot-auth"`, `sig1=:AAAA:`)
	f.Add("", `sig1=()`, `sig1=?1`)
	v := vectorVerifier(f)
	v.Policy.Required = nil
	f.Fuzz(func(t *testing.T, agent, input, sig string) {
		r := httptest.NewRequest("GET", "https://example.com/a", nil)
		r.Header.Set("Signature-Agent", agent)
		r.Header.Set("Signature-Input", input)
		r.Header.Set("Signature", sig)
		_, err := v.Verify(context.Background(), r, "https", nil)
		checkRefusal(t, err)
	})
}

func FuzzParseOffer(f *testing.F) {
	o := testOffers(f, nil)
	offer := o.New(testQuote())
	h := http.Header{}
	_ = offer.WriteHeaders(h, CodePaymentRequired)
	f.Add(h.Get("PAYMENT-REQUIRED"), `{"x402Version":1,"accepts":[]}`, "USD 0.01")
	f.Add("%%", `{"accepts":[{"scheme":"deferred","maxAmountRequired":"-5"}]}`, "")
	f.Fuzz(func(t *testing.T, v2, body, price string) {
		h := http.Header{}
		h.Set("PAYMENT-REQUIRED", v2)
		h.Set(HeaderCrawlerPrice, price)
		got, err := ParseOffer(h, []byte(body))
		if err == nil && got.Price.Value < 0 {
			t.Fatalf("negative offer price: %+v", got)
		}
	})
}

func FuzzOfferCheck(f *testing.F) {
	clock := time.Unix(1_800_000_000, 0)
	o := testOffers(f, func() time.Time { return clock })
	f.Add(o.New(testQuote()).ID)
	f.Add("1.2.3")
	f.Fuzz(func(t *testing.T, id string) {
		q := testQuote()
		if a, err := o.Check(id, "USD", q.PayTo, q.Authority, q.Path); err == nil && a.Value != q.Price.Value {
			t.Fatalf("a forged id %q bound price %v", id, a)
		}
	})
}

func FuzzParseReceipt(f *testing.F) {
	f.Add(`scheme="deferred", network="n", id="x", commitment="c", timestamp=1`, "USD 0.01")
	f.Add("eyJzdWNjZXNzIjp0cnVlfQ==", "USD x")
	f.Fuzz(func(t *testing.T, pr, charged string) {
		h := http.Header{}
		h.Set(HeaderPaymentResponse, pr)
		h.Set(HeaderCrawlerCharged, charged)
		_, _ = ParseReceipt(h)
	})
}

// FuzzSignVerify signs hostile hosts, paths and payment header values in
// each profile and Signature-Agent form: whatever the signer accepts to
// sign, the verifier (httpsign's signature base, not the signer's) accepts.
func FuzzSignVerify(f *testing.F) {
	f.Add("example.com", "/a", "USD 0.05", uint8(0))
	f.Add("EXAMPLE.com:443", "/%7Ea/b;c", "  USD 0.05 ", uint8(3))
	f.Add("[::1]:8443", "/", "x,y", uint8(1))
	f.Fuzz(func(t *testing.T, host, path, price string, mode uint8) {
		r, err := http.NewRequest("GET", "https://example.com/", nil)
		if err != nil {
			t.Skip()
		}
		r.Host = host
		if r.URL, err = url.Parse("https://example.com" + path); err != nil || r.URL.Host != "example.com" {
			t.Skip()
		}
		printable := func(s string) bool {
			return s != "" && !strings.ContainsFunc(s, func(c rune) bool { return c < 0x20 || c >= 0x7f })
		}
		if !printable(strings.TrimSpace(price)) || !printable(host) || strings.ContainsAny(host, " /?#@\\") {
			t.Skip()
		}
		r.Header.Set(HeaderCrawlerMaxPrice, price)
		s := vectorSigner(t)
		if mode&1 != 0 {
			s.Profile = ProfileStrict
		}
		if mode&2 != 0 {
			s.AgentForm, s.AgentType = AgentDictionary, string(AgentDirectory)
		}
		if err := s.Sign(r, HeaderCrawlerMaxPrice); err != nil {
			return
		}
		v := vectorVerifier(t)
		v.Policy.Required, v.Policy.Profile = nil, s.Profile
		_, err = v.Verify(context.Background(), r, "https", &Intent{Header: HeaderCrawlerMaxPrice})
		if err != nil {
			t.Fatalf("host %q path %q price %q mode %d: %v\n%s", host, path, price, mode, err, r.Header)
		}
	})
}
