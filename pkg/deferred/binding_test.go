package deferred

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/golden"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/x402"
)

// Tests of the x402 binding of paycrawl:402 (docs/x402-binding-paycrawl.md)
// and of how a crawler meets Cloudflare's cloudflare:402.

func TestNetworkAmountUnits(t *testing.T) {
	tests := []struct {
		name, network, amount string
		want                  money.Micros
		known                 bool
	}{
		{"paycrawl cent", NetworkPaycrawl, "10000", 10_000, true},
		{"paycrawl sub-cent", NetworkPaycrawl, "1", 1, true},
		{"paycrawl namespace", "paycrawl:staging", "250", 250, true},
		{"cloudflare cent", NetworkCloudflare, "1", 10_000, true},
		{"cloudflare five cents", NetworkCloudflare, "5", 50_000, true},
		{"cloudflare dollar", NetworkCloudflare, "100", 1_000_000, true},
		{"unknown network, paycrawl's unit", "eip155:8453", "10000", 10_000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, known := NetworkDecimals(tt.network); known != tt.known {
				t.Errorf("NetworkDecimals(%q) known = %v", tt.network, known)
			}
			got, err := ParseNetworkAmount(tt.network, tt.amount)
			if err != nil || got != tt.want {
				t.Fatalf("ParseNetworkAmount(%q, %q) = %v, %v; want %v", tt.network, tt.amount, got, err, tt.want)
			}
			back, err := FormatNetworkAmount(tt.network, got)
			if err != nil || back != tt.amount {
				t.Fatalf("FormatNetworkAmount(%q, %v) = %q, %v; want %q", tt.network, got, back, err, tt.amount)
			}
		})
	}
	for _, bad := range []struct{ network, amount string }{
		{NetworkPaycrawl, "0.01"}, {NetworkCloudflare, "0.5"}, {NetworkCloudflare, "-1"},
		{NetworkCloudflare, "922337203685477581"}, {NetworkPaycrawl, ""}, {NetworkPaycrawl, "1e4"},
	} {
		if got, err := ParseNetworkAmount(bad.network, bad.amount); err == nil {
			t.Errorf("ParseNetworkAmount(%q, %q) = %v, want an error", bad.network, bad.amount, got)
		}
	}
	if s, err := FormatNetworkAmount(NetworkCloudflare, 1); err == nil {
		t.Errorf("a sub-cent amount in cents = %q, want an error, never rounding", s)
	}
}

// fixedOffer is an offer with a fixed expiry, for golden files.
func fixedOffer(t *testing.T, q Quote) Offer {
	t.Helper()
	return testOffers(t, func() time.Time { return time.Unix(1_800_000_000, 0) }).New(q)
}

// indentJSON is a base64 JSON header's JSON, indented, fields in wire order.
func indentJSON(t *testing.T, header string) []byte {
	t.Helper()
	var raw json.RawMessage
	if err := x402.Decode(header, &raw); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func TestGoldenPaymentRequired(t *testing.T) {
	h := http.Header{}
	if err := fixedOffer(t, testQuote()).WriteHeaders(h, CodePaymentRequired); err != nil {
		t.Fatal(err)
	}
	v := h.Get(x402.HeaderPaymentRequired)
	if len(v) > MaxPaymentRequiredLen {
		t.Errorf("PAYMENT-REQUIRED is %d bytes, over %d", len(v), MaxPaymentRequiredLen)
	}
	golden.Compare(t, "payment-required.json", indentJSON(t, v))

	// A long description is dropped to keep the header under 2 KB.
	q := testQuote()
	q.Description = strings.Repeat("a long description ", 100)
	h = http.Header{}
	if err := fixedOffer(t, q).WriteHeaders(h, CodePaymentRequired); err != nil {
		t.Fatal(err)
	}
	var pr x402.PaymentRequired
	if err := x402.Decode(h.Get(x402.HeaderPaymentRequired), &pr); err != nil {
		t.Fatal(err)
	}
	if n := len(h.Get(x402.HeaderPaymentRequired)); n > MaxPaymentRequiredLen || pr.Resource.Description != "" || pr.Resource.URL != q.Resource {
		t.Errorf("with a long description: %d bytes, resource %+v", n, pr.Resource)
	}
}

func TestGoldenPaymentResponse(t *testing.T) {
	rc := Receipt{Scheme: SchemeBatchSettlement, Network: NetworkPaycrawl, OfferID: "1800000060.10000.mac",
		CommitmentID: "1800000000000-0", Payer: testAgent, Charged: money.Amount{Currency: "USD", Value: 10_000},
		Timestamp: time.Unix(1_800_000_000, 0)}
	h := http.Header{}
	if err := rc.WriteHeaders(h, DialectX402); err != nil {
		t.Fatal(err)
	}
	golden.Compare(t, "payment-response.json", indentJSON(t, h.Get(x402.HeaderPaymentResponse)))
	var sr x402.SettleResponse
	if err := x402.Decode(h.Get(x402.HeaderPaymentResponse), &sr); err != nil {
		t.Fatal(err)
	}
	if !sr.Success || sr.Transaction != rc.CommitmentID || sr.Amount != "10000" || sr.Asset != "USD" || sr.Network != NetworkPaycrawl || sr.Payer != testAgent {
		t.Errorf("SettleResponse = %+v", sr)
	}
	// A charge the network's unit cannot express is an error, not a rounded receipt.
	rc.Network, rc.Charged.Value = NetworkCloudflare, 1
	if err := rc.WriteHeaders(http.Header{}, DialectX402); err == nil {
		t.Error("a sub-cent charge was written in cents")
	}
}

// TestX402Ceiling reads PAYMENT-SIGNATURE payloads as the gateway does
// (ParseIntent, then Offers.Accept) and checks what is charged.
func TestX402Ceiling(t *testing.T) {
	o := testOffers(t, nil)
	q := testQuote() // USD 0.01, pub_1, paycrawl:402
	id := o.New(q).ID
	type row struct {
		name                                string
		scheme, network, amount, payTo, oid string
		payload                             map[string]any
		want                                money.Micros
		code                                Code
	}
	tests := []row{
		{"batch-settlement at the price", SchemeBatchSettlement, NetworkPaycrawl, "10000", "pub_1", id, nil, 10_000, ""},
		{"batch-settlement ceiling, price charged", SchemeBatchSettlement, NetworkPaycrawl, "50000", "pub_1", id, nil, 10_000, ""},
		{"pre-authorized ceiling, no offer id", SchemeBatchSettlement, NetworkPaycrawl, "1000000", "pub_1", "", nil, 10_000, ""},
		{"ceiling in payload above accepted", SchemeBatchSettlement, NetworkPaycrawl, "10000", "pub_1", id,
			map[string]any{"amount": "20000", "asset": "USD"}, 10_000, ""},
		{"deferred scheme ceiling", SchemeDeferred, NetworkPaycrawl, "20000", "pub_1", id, nil, 10_000, ""},
		{"upto: max at verify, price settled", SchemeUpto, NetworkPaycrawl, "30000", "pub_1", "", nil, 10_000, ""},
		{"below the price", SchemeBatchSettlement, NetworkPaycrawl, "9999", "pub_1", id, nil, 0, CodePriceAboveMax},
		{"below the price, no offer id", SchemeBatchSettlement, NetworkPaycrawl, "9999", "pub_1", "", nil, 0, CodePriceAboveMax},
		{"payload below accepted", SchemeBatchSettlement, NetworkPaycrawl, "10000", "pub_1", id,
			map[string]any{"amount": "1", "asset": "USD"}, 0, CodePriceConflict},
		{"payload amount not a string", SchemeBatchSettlement, NetworkPaycrawl, "10000", "pub_1", id,
			map[string]any{"amount": 10000, "asset": "USD"}, 0, CodePaymentMalformed},
		{"payload in another asset", SchemeBatchSettlement, NetworkPaycrawl, "10000", "pub_1", id,
			map[string]any{"amount": "10000", "asset": "EUR"}, 0, CodePriceConflict},
		{"upto without recipient", SchemeUpto, NetworkPaycrawl, "30000", "", "", nil, 0, CodeOfferInvalid},
		{"another recipient", SchemeBatchSettlement, NetworkPaycrawl, "10000", "pub_2", "", nil, 0, CodeOfferInvalid},
		// A commitment on Cloudflare's network is read in cents ("1" = USD 0.01)
		// and refused: it is Cloudflare's to bill, not this server's.
		{"cloudflare:402 payload", SchemeBatchSettlement, NetworkCloudflare, "1", "merchant", "", nil, 0, CodeNetworkUnsupported},
		{"no network", SchemeBatchSettlement, "", "10000", "pub_1", id, nil, 0, CodeNetworkUnsupported},
		{"exact scheme", "exact", NetworkPaycrawl, "10000", "pub_1", id, nil, 0, CodeSchemeUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acc := x402.PaymentRequirements{Scheme: tt.scheme, Network: tt.network, Amount: tt.amount, Asset: "USD",
				PayTo: tt.payTo, MaxTimeoutSeconds: 60}
			if tt.oid != "" {
				acc.Extra = map[string]any{"id": tt.oid}
			}
			payload := tt.payload
			if payload == nil {
				payload = map[string]any{"amount": tt.amount, "asset": "USD"}
			}
			h := http.Header{}
			h.Set(x402.HeaderPaymentSignature, encode(t, x402.PaymentPayload{X402Version: 2, Accepted: acc, Payload: payload}))
			in, err := ParseIntent(h)
			var got money.Amount
			if err == nil {
				if in.Exact {
					t.Errorf("an x402 amount was read as exact: %+v", in)
				}
				got, err = o.Accept(in, q)
			}
			if tt.code != "" {
				if CodeOf(err) != tt.code {
					t.Fatalf("got %v, %v; want %s", got, err, tt.code)
				}
				if s := tt.code.Status(); s < 400 || s >= 500 {
					t.Fatalf("%s maps to %d, want a 4xx", tt.code, s)
				}
				return
			}
			if err != nil || got != (money.Amount{Currency: "USD", Value: tt.want}) {
				t.Fatalf("charged %v, %v; want USD %v", got, err, tt.want)
			}
		})
	}
}

// cloudflareRequired is the PAYMENT-REQUIRED of the Cloudflare binding's
// example (batch_settlement_cloudflare.md), amount in cents.
func cloudflareRequired(cents string) string {
	return `{"x402Version":2,"error":"No PAYMENT-SIGNATURE header provided","resource":{"url":"https://example.com/article","mimeType":"text/html"},` +
		`"accepts":[{"scheme":"batch-settlement","network":"cloudflare:402","amount":"` + cents + `","asset":"USD","payTo":"merchant","extra":{"version":"1.0.0"}}],` +
		`"extensions":{"http-message-signatures":{"info":{"registrationUrl":"https://developers.cloudflare.com/ai-crawl-control/","signatureSchemes":["ed25519"],"tags":["web-bot-auth"]}}}}`
}

func b64(s string) string { return encodeRaw([]byte(s)) }

func encodeRaw(b []byte) string {
	var v json.RawMessage = b
	s, _ := x402.Encode(v)
	return s
}

func TestParseOfferCloudflareCents(t *testing.T) {
	h := http.Header{}
	h.Set(x402.HeaderPaymentRequired, b64(cloudflareRequired("1")))
	got, err := ParseOffer(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Price != (money.Amount{Currency: "USD", Value: 10_000}) || got.Network != NetworkCloudflare || got.Scheme != SchemeBatchSettlement || got.ID != "" {
		t.Fatalf("offer = %+v: want USD 0.01 on cloudflare:402", got)
	}
	// An entry of a network whose unit is unknown is skipped for the next.
	mixed := `{"x402Version":2,"resource":{"url":"https://x.example/"},"accepts":[` +
		`{"scheme":"batch-settlement","network":"eip155:8453","amount":"1","asset":"USD","payTo":"0xabc","maxTimeoutSeconds":60},` +
		`{"scheme":"batch-settlement","network":"paycrawl:402","amount":"2500","asset":"USD","payTo":"pub_1","maxTimeoutSeconds":60,"extra":{"id":"o"}}]}`
	h.Set(x402.HeaderPaymentRequired, b64(mixed))
	if got, err = ParseOffer(h, nil); err != nil || got.Network != NetworkPaycrawl || got.Price.Value != 2500 {
		t.Fatalf("mixed offer = %+v, %v", got, err)
	}
	h.Set(x402.HeaderPaymentRequired, b64(strings.Replace(cloudflareRequired("1"), "cloudflare:402", "eip155:8453", 1)))
	if got, err = ParseOffer(h, nil); err == nil {
		t.Fatalf("an offer in an unknown unit was read: %+v", got)
	}
}

// cloudflareSite answers like a Cloudflare pay-per-crawl site of the binding:
// a cents offer, then a PAYMENT-RESPONSE without success or transaction.
type cloudflareSite struct {
	t     *testing.T
	cents string
	paid  []x402.PaymentPayload
	raw   []map[string]json.RawMessage
	input []string
}

func (c *cloudflareSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v := r.Header.Get(x402.HeaderPaymentSignature)
	if v == "" {
		w.Header().Set(x402.HeaderPaymentRequired, b64(cloudflareRequired(c.cents)))
		w.WriteHeader(http.StatusPaymentRequired)
		return
	}
	var p x402.PaymentPayload
	var raw map[string]json.RawMessage
	if x402.Decode(v, &p) != nil || x402.Decode(v, &raw) != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	c.paid, c.raw, c.input = append(c.paid, p), append(c.raw, raw), append(c.input, r.Header.Get("Signature-Input"))
	w.Header().Set(x402.HeaderPaymentResponse, b64(`{"amount":"`+c.cents+`","asset":"USD","network":"cloudflare:402","timestamp":1730872968}`))
	_, _ = w.Write([]byte("article"))
}

func TestTransportPaysCloudflareInCents(t *testing.T) {
	tests := []struct {
		name  string
		cents string
		max   money.Micros
		paid  bool
	}{
		{"five cents within USD 0.05", "5", 50_000, true},
		{"five cents above USD 0.049999", "5", 49_999, false},
		// Read as micro-units, "5" would be USD 0.000005 and within this max.
		{"cents are not micro-units", "5", 5, false},
		{"one cent within USD 0.01", "1", 10_000, true},
	}
	for _, dialect := range []Dialect{DialectDeferred, DialectX402} {
		for _, tt := range tests {
			t.Run(string(dialect)+"/"+tt.name, func(t *testing.T) {
				_, _, signer := testKey(t)
				site := &cloudflareSite{t: t, cents: tt.cents}
				srv := httptest.NewServer(site)
				defer srv.Close()
				var receipts []*Receipt
				tr := &Transport{Signer: signer, Dialect: dialect, MaxPrice: money.Amount{Currency: "USD", Value: tt.max},
					OnReceipt: func(_ *http.Request, rc *Receipt) { receipts = append(receipts, rc) }}
				resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/article")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !tt.paid {
					if resp.StatusCode != http.StatusPaymentRequired || len(site.paid) != 0 {
						t.Fatalf("status %d, %d payments: want the 402 back, unpaid", resp.StatusCode, len(site.paid))
					}
					return
				}
				if resp.StatusCode != http.StatusOK || string(body) != "article" || len(site.paid) != 1 {
					t.Fatalf("status %d, body %q, %d payments", resp.StatusCode, body, len(site.paid))
				}
				p, raw := site.paid[0], site.raw[0]
				if p.Accepted.Network != NetworkCloudflare || p.Accepted.Amount != tt.cents || p.Payload["amount"] != tt.cents || p.Payload["asset"] != "USD" {
					t.Errorf("payload = %+v: want the offer echoed and the commitment in cents", p)
				}
				var offered x402.PaymentRequired
				_ = json.Unmarshal([]byte(cloudflareRequired(tt.cents)), &offered)
				wantAccepted, _ := json.Marshal(offered.Accepts[0])
				var gotAccepted bytes.Buffer
				_ = json.Compact(&gotAccepted, raw["accepted"])
				if gotAccepted.String() != string(wantAccepted) {
					t.Errorf("accepted = %s, want the offered entry %s", gotAccepted.String(), wantAccepted)
				}
				if _, ok := p.Extensions[x402.ExtensionHTTPMessageSignatures]; !ok || p.Resource == nil {
					t.Errorf("resource and extensions not echoed: %+v", p)
				}
				if !strings.Contains(site.input[0], `"payment-signature"`) {
					t.Errorf("Signature-Input %q does not cover payment-signature", site.input[0])
				}
				want := money.Amount{Currency: "USD", Value: money.FromCents(5)}
				if tt.cents == "1" {
					want.Value = money.FromCents(1)
				}
				if len(receipts) != 1 || receipts[0].Charged != want || receipts[0].Network != NetworkCloudflare {
					t.Errorf("receipts = %+v, want %v on cloudflare:402", receipts, want)
				}
			})
		}
	}
}

func TestParseReceiptForms(t *testing.T) {
	tests := []struct {
		name, value string
		want        money.Amount
		code        Code
	}{
		{"cloudflare example, no success field", `{"amount":"5","asset":"USD","network":"cloudflare:402","timestamp":1730872968}`,
			money.Amount{Currency: "USD", Value: 50_000}, ""},
		{"paycrawl micro-units", `{"success":true,"transaction":"c1","network":"paycrawl:402","amount":"1","asset":"USD"}`,
			money.Amount{Currency: "USD", Value: 1}, ""},
		{"failure", `{"success":false,"errorReason":"payment_failed","transaction":"","network":"paycrawl:402"}`, money.Amount{}, CodePaymentMalformed},
		{"decimal amount", `{"success":true,"transaction":"c1","network":"paycrawl:402","amount":"0.01","asset":"USD"}`, money.Amount{}, CodePriceInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set(HeaderPaymentResponse, b64(tt.value))
			got, err := ParseReceipt(h)
			if tt.code != "" {
				if CodeOf(err) != tt.code {
					t.Fatalf("got %+v, %v; want %s", got, err, tt.code)
				}
				return
			}
			if err != nil || got.Charged != tt.want {
				t.Fatalf("got %+v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// FuzzX402Ceiling feeds hostile PAYMENT-SIGNATURE payloads to ParseIntent
// and Offers.Accept: no panic, no 5xx, and never a charge above the price
// or above the client's commitment.
func FuzzX402Ceiling(f *testing.F) {
	f.Add("batch-settlement", "paycrawl:402", "10000", "50000", "USD", "pub_1")
	f.Add("upto", "paycrawl:402", "30000", "30000", "USD", "")
	f.Add("batch-settlement", "cloudflare:402", "1", "5", "USD", "merchant")
	f.Add("deferred", "paycrawl:402", "99999999999999999999", "-1", "usd", "pub_1")
	o := testOffers(f, nil)
	q := testQuote()
	f.Fuzz(func(t *testing.T, scheme, network, amount, ceiling, asset, payTo string) {
		h := http.Header{}
		h.Set(x402.HeaderPaymentSignature, encode(t, x402.PaymentPayload{X402Version: 2,
			Accepted: x402.PaymentRequirements{Scheme: scheme, Network: network, Amount: amount, Asset: asset, PayTo: payTo},
			Payload:  map[string]any{"amount": ceiling, "asset": asset}}))
		in, err := ParseIntent(h)
		checkRefusal(t, err)
		if err != nil {
			return
		}
		got, err := o.Accept(in, q)
		checkRefusal(t, err)
		if err == nil && (got.Value > q.Price.Value || got.Value > in.Price.Value || got.Currency != q.Price.Currency) {
			t.Fatalf("charged %v for a price %v and a commitment %v", got, q.Price, in.Price)
		}
	})
}

// FuzzParseNetworkAmount checks that every amount read round-trips exactly.
func FuzzParseNetworkAmount(f *testing.F) {
	for _, s := range []string{"0", "1", "10000", "922337203685477581", "9223372036854775807", "-1", "0.01", "1e3", " 1"} {
		f.Add(NetworkCloudflare, s)
		f.Add(NetworkPaycrawl, s)
	}
	f.Fuzz(func(t *testing.T, network, s string) {
		m, err := ParseNetworkAmount(network, s)
		if err != nil {
			return
		}
		if m < 0 {
			t.Fatalf("negative amount %v from %q", m, s)
		}
		back, err := FormatNetworkAmount(network, m)
		if err != nil {
			t.Fatalf("FormatNetworkAmount(%q, %v): %v", network, m, err)
		}
		if again, err := ParseNetworkAmount(network, back); err != nil || again != m {
			t.Fatalf("%q → %v → %q → %v, %v", s, m, back, again, err)
		}
	})
}
