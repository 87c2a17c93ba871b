package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/pricing"
)

// A request without a payment is never refused for the way it is signed:
// on a site whose rules name no crawler, its signature is not even looked
// at, so a free page is served and a paid one answered with the offer,
// under either profile.
func TestUnpaidSignedRequestsNeverRefusedForCoverage(t *testing.T) {
	for _, profile := range []deferred.Profile{deferred.ProfileReference, deferred.ProfileStrict} {
		t.Run(string(profile), func(t *testing.T) {
			h := newHarness(t)
			h.useProfile(profile)
			c := h.newCrawler("op_unpaid_"+string(profile), defaultTerms)
			signings := []struct {
				name string
				sign func(*http.Request)
			}{
				{"reference coverage", func(r *http.Request) {
					if err := c.signer.Sign(r); err != nil {
						t.Fatal(err)
					}
				}},
				{"no @authority", func(r *http.Request) { signWithout(t, r, c, "@authority") }},
				{"broken signature", func(r *http.Request) {
					if err := c.signer.Sign(r); err != nil {
						t.Fatal(err)
					}
					r.Header.Set("Signature", "sig1=:AAAA:")
				}},
				{"unknown agent", func(r *http.Request) {
					if err := c.signer.Sign(r); err != nil {
						t.Fatal(err)
					}
					r.Header.Set("Signature-Agent", `"https://unregistered.example"`)
				}},
			}
			for _, sg := range signings {
				t.Run(sg.name, func(t *testing.T) {
					for _, page := range []struct {
						path   string
						status int
					}{{"/free/x", 200}, {"/articles/x", 402}, {"/robots.txt", 200}, {"/crawlers.json", 200}} {
						req, _ := http.NewRequest("GET", h.srv.URL+page.path, nil)
						sg.sign(req)
						resp, err := http.DefaultTransport.RoundTrip(req)
						if err != nil {
							t.Fatal(err)
						}
						resp.Body.Close()
						if resp.StatusCode != page.status {
							t.Fatalf("%s: %d (crawler-error %q), want %d", page.path, resp.StatusCode, resp.Header.Get("crawler-error"), page.status)
						}
						if page.status == 402 && (resp.Header.Get("PAYMENT-REQUIRED") == "" || resp.Header.Get("crawler-price") == "") {
							t.Fatalf("%s: a 402 without the offer: %v", page.path, resp.Header)
						}
					}
				})
			}
		})
	}
}

// Where the site's rules name crawlers, identity decides: a signature
// without a payment is verified, with the Web Bot Auth minimum of coverage
// whatever the profile, and a blocked crawler is refused even on a free page.
func TestIdentityVerifiedWhereItDecides(t *testing.T) {
	h := newHarness(t)
	h.useProfile(deferred.ProfileStrict)
	friend := h.newCrawler("op_friend_ref", defaultTerms)
	foe := h.newCrawler("op_foe_ref", defaultTerms)
	h.setCrawlerRule(pricing.OverrideConfig{Operator: friend.operator, Action: "allow"})
	h.setCrawlerRule(pricing.OverrideConfig{Operator: foe.operator, Action: "block"})
	get := func(c *crawler, path string, mutate func(*http.Request)) (int, http.Header) {
		req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
		if err := c.signer.Sign(req); err != nil { // reference coverage: no @path
			t.Fatal(err)
		}
		if mutate != nil {
			mutate(req)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	if status, _ := get(friend, "/articles/1", nil); status != 200 {
		t.Fatalf("allowed crawler, reference-signed, strict profile: %d", status)
	}
	if status, hdr := get(foe, "/free/x", nil); status != 403 || hdr.Get("crawler-error") != deferred.CrawlerForbidden {
		t.Fatalf("blocked crawler on a free page: %d %q", status, hdr.Get("crawler-error"))
	}
	if status, _ := get(foe, "/robots.txt", nil); status != 200 {
		t.Fatalf("blocked crawler on robots.txt: %d", status)
	}
	// A broken claim of identity is refused where identity decides.
	status, hdr := get(friend, "/articles/2", func(r *http.Request) { r.Header.Del("Signature-Agent") })
	if status != 400 || hdr.Get("Accept-Signature") == "" {
		t.Fatalf("no Signature-Agent: %d, Accept-Signature %q", status, hdr.Get("Accept-Signature"))
	}
	if len(h.commitments(friend.operator)) != 0 {
		t.Fatal("an allowed crawler was charged")
	}
}

// A payment must be signed; the refusal says what to sign.
func TestUnsignedPaymentAsksForASignature(t *testing.T) {
	h := newHarness(t)
	status, _, hdr := h.get(http.DefaultClient, "/articles/1", "crawler-max-price", "USD 0.05")
	want := `sig1=("@authority" "signature-agent" "crawler-max-price");created;expires;keyid;tag="web-bot-auth"`
	if status != 400 || hdr.Get("crawler-error") != deferred.StrongAuthRequired || hdr.Get("Accept-Signature") != want {
		t.Fatalf("%d %q Accept-Signature %q", status, hdr.Get("crawler-error"), hdr.Get("Accept-Signature"))
	}
}

// A crawler signing the reference way (@authority, signature-agent and the
// payment header, sf-string Signature-Agent) pays in every dialect under the
// default profile.
func TestReferenceSignedCrawlerPaysInEachDialect(t *testing.T) {
	h := newHarness(t)
	for i, d := range []deferred.Dialect{deferred.DialectDeferred, deferred.DialectX402, deferred.DialectCrawlerPrice} {
		t.Run(string(d), func(t *testing.T) {
			c := h.newCrawler("op_refpay_"+string(rune('a'+i)), defaultTerms)
			status, body, hdr := h.get(c.client("0.10", d, false), "/articles/ref")
			if status != 200 || hdr.Get(deferred.HeaderCrawlerCharged) == "" {
				t.Fatalf("%d %q crawler-error %q", status, body, hdr.Get("crawler-error"))
			}
			recs := h.commitments(c.operator)
			if len(recs) != 1 || strings.Contains(recs[0].SignatureInput, "@path") || !strings.Contains(recs[0].SignatureInput, `"signature-agent"`) {
				t.Fatalf("commitments %+v", recs)
			}
		})
	}
}
