package interop_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/internal/interop"
	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// TestOurSignerVerifiesWithCloudflares: requests signed by paycrawl's
// deferred.Signer, with its defaults (sf-string Signature-Agent, the
// reference components) and with the strict profile, pass the verify of
// Cloudflare's own web-bot-auth library; a request changed after signing
// does not.
func TestOurSignerVerifiesWithCloudflares(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := deferred.NewKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	var jwk map[string]any
	if err := json.Unmarshal(key.JWK(), &jwk); err != nil {
		t.Fatal(err)
	}
	const url = "https://news.example/articles/1?page=2"
	tests := []struct {
		name    string
		profile deferred.Profile
		tamper  func(h http.Header)
		ok      bool
	}{
		{"defaults", deferred.ProfileReference, nil, true},
		{"strict profile", deferred.ProfileStrict, nil, true},
		{"price changed after signing", deferred.ProfileReference, func(h http.Header) { h.Set(deferred.HeaderCrawlerMaxPrice, "USD 9.00") }, false},
		{"agent changed after signing", deferred.ProfileReference, func(h http.Header) { h.Set("Signature-Agent", `"https://evil.example"`) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := deferred.NewSigner(priv, "https://crawler.example")
			if err != nil {
				t.Fatal(err)
			}
			s.Profile = tt.profile
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set(deferred.HeaderCrawlerMaxPrice, "USD 0.05")
			if err := s.Sign(req, deferred.HeaderCrawlerMaxPrice); err != nil {
				t.Fatal(err)
			}
			if tt.tamper != nil {
				tt.tamper(req.Header)
			}
			headers := map[string]string{}
			for k := range req.Header {
				headers[k] = req.Header.Get(k)
			}
			in, _ := json.Marshal(map[string]any{"jwk": jwk, "url": url, "headers": headers})
			out, err := interop.Try(t, in, "request.mjs", "verify")
			if tt.ok {
				var res struct {
					OK    bool
					Keyid string
				}
				if err != nil || json.Unmarshal(out, &res) != nil || !res.OK || res.Keyid != key.ID {
					t.Fatalf("Cloudflare's verify refused our signature: %v %s\nSignature-Input: %s", err, out, req.Header.Get("Signature-Input"))
				}
				if !strings.Contains(req.Header.Get("Signature-Input"), `"signature-agent"`) {
					t.Fatalf("Signature-Input %q does not cover signature-agent", req.Header.Get("Signature-Input"))
				}
				return
			}
			if err == nil {
				t.Fatalf("Cloudflare's verify accepted a request changed after signing: %s", out)
			}
			if !strings.Contains(err.Error(), "invalid signature") {
				t.Fatalf("refused for another reason than the signature: %v", err)
			}
		})
	}
}
