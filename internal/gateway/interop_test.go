package gateway_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/internal/interop"
	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// A crawler that signs with Cloudflare's own library (npm web-bot-auth,
// interop/request.mjs), with its own key and its defaults (@authority and
// an sf-string signature-agent, plus the payment header it pays with), is
// served a free page, offered a paid one, charged for it under the default
// (reference) profile, and refused a replay.
func TestCloudflareSignerIsServedOfferedAndCharged(t *testing.T) {
	interop.Setup(t)
	h := newHarness(t)
	var key struct {
		JWK map[string]any `json:"jwk"`
	}
	interop.RunJSON(t, struct{}{}, &key, "request.mjs", "keygen")
	d, _ := key.JWK["d"].(string)
	seed, err := base64.RawURLEncoding.DecodeString(d)
	if err != nil || len(seed) != ed25519.SeedSize {
		t.Fatalf("node's key %v: %v", key.JWK, err)
	}
	c := h.newCrawlerWithKey("op_cloudflare_lib", defaultTerms, ed25519.NewKeyFromSeed(seed))

	type signIn struct {
		JWK     map[string]any    `json:"jwk"`
		URL     string            `json:"url"`
		Agent   string            `json:"agent"`
		Headers map[string]string `json:"headers,omitempty"`
		Cover   []string          `json:"cover,omitempty"`
	}
	send := func(path string, headers map[string]string, cover ...string) (*http.Response, string) {
		t.Helper()
		in := signIn{JWK: key.JWK, URL: h.srv.URL + path, Agent: c.agent, Headers: headers, Cover: cover}
		var signed map[string]string
		interop.RunJSON(t, in, &signed, "request.mjs", "sign")
		if !strings.HasPrefix(signed["Signature-Agent"], `"`) || !strings.Contains(signed["Signature-Input"], `("@authority" "signature-agent"`) {
			t.Fatalf("the library did not sign its defaults: %v", signed)
		}
		req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		for k, v := range signed {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Request = req // what a replay resends
		return resp, string(body)
	}

	if resp, body := send("/free/page", nil); resp.StatusCode != 200 || !strings.Contains(body, "paid body of /free/page") {
		t.Fatalf("free page: %d %s", resp.StatusCode, body)
	}
	resp, body := send("/articles/unpaid", nil)
	if resp.StatusCode != http.StatusPaymentRequired || resp.Header.Get("PAYMENT-REQUIRED") == "" || resp.Header.Get("crawler-price") != "USD 0.01" {
		t.Fatalf("unpaid: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	price := map[string]string{deferred.HeaderCrawlerMaxPrice: "USD 0.05"}
	resp, body = send("/articles/paid", price, deferred.HeaderCrawlerMaxPrice)
	if resp.StatusCode != 200 || resp.Header.Get(deferred.HeaderCrawlerCharged) != "USD 0.01" || !strings.Contains(body, "paid body of /articles/paid") {
		t.Fatalf("paid: %d crawler-error %q %s", resp.StatusCode, resp.Header.Get("crawler-error"), body)
	}
	recs := h.commitments(c.operator)
	if len(recs) != 1 || recs[0].Path != "/articles/paid" || recs[0].Price != 10_000 {
		t.Fatalf("commitments %+v", recs)
	}
	pub := c.key.Public().(ed25519.PublicKey)
	ev := deferred.Evidence{Label: recs[0].Label, Method: recs[0].Method, Scheme: recs[0].Scheme, Authority: recs[0].Authority,
		RequestURI: recs[0].Path, SignatureInput: recs[0].SignatureInput, Signature: recs[0].Signature, Headers: recs[0].Covered}
	if err := ev.Verify(pub); err != nil {
		t.Fatalf("the recorded commitment does not re-verify: %v", err)
	}
	// The library's signature names no page: replayed on another one it is
	// refused by the one-use guard, and charged once.
	replay := resp.Request.Clone(resp.Request.Context())
	replay.URL.Path = "/articles/other"
	again, err := http.DefaultTransport.RoundTrip(replay)
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if again.StatusCode != 400 || len(h.commitments(c.operator)) != 1 || h.hits("/articles/other") != 0 {
		t.Fatalf("replay on another page: %d, %d commitments", again.StatusCode, len(h.commitments(c.operator)))
	}
}
