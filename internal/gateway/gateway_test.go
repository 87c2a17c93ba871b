package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/pricing"
	"github.com/paycrawl/paycrawl/pkg/x402"
)

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

func TestHandshakeInEachDialect(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name    string
		dialect deferred.Dialect
		preauth bool
		path    string
		price   money.Micros
	}{
		{"deferred Payment header", deferred.DialectDeferred, false, "/articles/1", 10_000},
		{"x402 v2 PAYMENT-SIGNATURE", deferred.DialectX402, false, "/articles/2", 10_000},
		{"crawler-exact-price", deferred.DialectCrawlerPrice, false, "/premium/3", 50_000},
		{"pre-authorized crawler-max-price", deferred.DialectCrawlerPrice, true, "/premium/4", 50_000},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.newCrawler("dialect-"+string(rune('a'+i)), defaultTerms)
			op := c.operator
			status, body, hdr := h.get(c.client("0.10", tt.dialect, tt.preauth), tt.path)
			if status != http.StatusOK || !strings.Contains(body, "paid body of "+tt.path) {
				t.Fatalf("status %d body %q crawler-error %q", status, body, hdr.Get("crawler-error"))
			}
			want := money.Amount{Currency: "USD", Value: tt.price}
			if got := hdr.Get(deferred.HeaderCrawlerCharged); got != want.String() {
				t.Errorf("crawler-charged = %q, want %q", got, want)
			}
			rc, err := deferred.ParseReceipt(hdr)
			if err != nil || rc == nil || rc.CommitmentID == "" {
				t.Fatalf("receipt %+v, %v", rc, err)
			}
			if tt.dialect == deferred.DialectX402 {
				var sr x402.SettleResponse
				if err := x402.Decode(hdr.Get("PAYMENT-RESPONSE"), &sr); err != nil || !sr.Success || sr.Transaction != rc.CommitmentID {
					t.Errorf("PAYMENT-RESPONSE = %+v, %v", sr, err)
				}
			}
			recs := h.commitments(op)
			if len(recs) != 1 {
				t.Fatalf("ledger has %d commitments, want 1", len(recs))
			}
			r := recs[0]
			if r.ID != rc.CommitmentID || r.Price != tt.price || r.Currency != "USD" || r.Publisher != "pub_news" ||
				r.Path != tt.path || r.Dialect != string(tt.dialect) || r.Signature == "" || r.SignatureInput == "" {
				t.Errorf("commitment = %+v", r)
			}
			// The recorded evidence verifies offline with the archived key.
			jwk, err := h.ledger.PublicKey(t.Context(), op, r.KeyID)
			if err != nil {
				t.Fatal(err)
			}
			key, err := deferred.ParseKey([]byte(jwk))
			if err != nil {
				t.Fatal(err)
			}
			ev := deferred.Evidence{Label: r.Label, Method: r.Method, Scheme: r.Scheme, Authority: r.Authority,
				RequestURI: r.Path, SignatureInput: r.SignatureInput, Signature: r.Signature, Headers: r.Covered}
			if err := ev.Verify(key.Public); err != nil {
				t.Errorf("recorded commitment does not re-verify: %v", err)
			}
		})
	}
}

func TestUnsignedGetsOfferInAllDialects(t *testing.T) {
	h := newHarness(t)
	status, body, hdr := h.get(http.DefaultClient, "/articles/1")
	if status != http.StatusPaymentRequired {
		t.Fatalf("status %d", status)
	}
	if hdr.Get("crawler-price") != "USD 0.01" || hdr.Get("crawler-error") != deferred.MissingCrawlerPrice {
		t.Errorf("headers %v", hdr)
	}
	offer, err := deferred.ParseOffer(hdr, []byte(body))
	if err != nil || offer.ID == "" || offer.Price.Value != 10_000 {
		t.Fatalf("offer %+v, %v", offer, err)
	}
	var v1 x402.V1PaymentRequired
	if err := json.Unmarshal([]byte(body), &v1); err != nil || v1.X402Version != 1 || v1.Accepts[0].Scheme != "deferred" {
		t.Fatalf("v1 body %s", body)
	}
	if h.hits("/articles/1") != 0 {
		t.Error("the origin was asked for an unpaid request")
	}
	// A person's browser gets the same 402 with a page.
	status, body, hdr = h.get(http.DefaultClient, "/articles/1", "Accept", "text/html,application/xhtml+xml")
	if status != http.StatusPaymentRequired || !strings.Contains(body, "Payment required") ||
		!strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || hdr.Get("PAYMENT-REQUIRED") == "" {
		t.Fatalf("browser: %d %q %v", status, body, hdr)
	}
}

func TestReplayIsRefusedAndNotChargedTwice(t *testing.T) {
	h := newHarness(t)
	c := h.newCrawler("op_replay", defaultTerms)
	req, _ := http.NewRequest("GET", h.srv.URL+"/articles/9", nil)
	req.Header.Set(deferred.HeaderCrawlerMaxPrice, "USD 0.05")
	if err := c.signer.Sign(req, deferred.HeaderCrawlerMaxPrice); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{200, 400, 400} {
		resp, err := http.DefaultTransport.RoundTrip(req.Clone(req.Context()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("send %d: status %d, want %d (crawler-error %s)", i, resp.StatusCode, want, resp.Header.Get("crawler-error"))
		}
	}
	if n := len(h.commitments(c.operator)); n != 1 {
		t.Fatalf("%d commitments for one signature", n)
	}
	if n := h.hits("/articles/9"); n != 1 {
		t.Fatalf("origin hit %d times: a replay must be refused before the origin", n)
	}
}

func TestOriginFailuresAreNotCharged(t *testing.T) {
	h := newHarness(t)
	c := h.newCrawler("op_origin", defaultTerms)
	cl := c.client("0.05", deferred.DialectCrawlerPrice, true)
	for _, tt := range []struct {
		path   string
		status int
	}{{"/missing", 404}, {"/broken", 500}} {
		status, body, hdr := h.get(cl, tt.path)
		if status != tt.status || hdr.Get(deferred.HeaderCrawlerCharged) != "" {
			t.Errorf("%s: status %d charged %q body %q", tt.path, status, hdr.Get(deferred.HeaderCrawlerCharged), body)
		}
	}
	if n := len(h.commitments(c.operator)); n != 0 {
		t.Fatalf("%d commitments for failed origin responses", n)
	}
	// Origin down: 502, nothing charged.
	h.origin.Close()
	status, _, hdr := h.get(cl, "/articles/1")
	if status != http.StatusBadGateway || hdr.Get("crawler-error") == "" {
		t.Fatalf("origin down: status %d crawler-error %q", status, hdr.Get("crawler-error"))
	}
	if n := len(h.commitments(c.operator)); n != 0 {
		t.Fatalf("%d commitments with the origin down", n)
	}
}

func TestOriginTimeoutIs504(t *testing.T) {
	h := newHarness(t)
	c := h.newCrawler("op_slow", defaultTerms)
	status, _, hdr := h.get(c.client("0.05", deferred.DialectCrawlerPrice, true), "/slow")
	if status != http.StatusGatewayTimeout || hdr.Get(deferred.HeaderCrawlerCharged) != "" {
		t.Fatalf("status %d", status)
	}
	if n := len(h.commitments(c.operator)); n != 0 {
		t.Fatalf("%d commitments for a timed-out origin", n)
	}
}

func TestLedgerDownFailsClosed(t *testing.T) {
	h := newHarness(t)
	c := h.newCrawler("op_down", defaultTerms)
	cl := c.client("0.05", deferred.DialectCrawlerPrice, true)
	if status, _, _ := h.get(cl, "/articles/1"); status != 200 {
		t.Fatalf("warm-up: %d", status)
	}
	// Redis dies after verification, while the origin answers: the append
	// fails and not one byte of the paid body leaves the gateway.
	h.mu.Lock()
	h.onOriginHit = func(p string) {
		if p == "/articles/kill" {
			h.redis.Kill()
		}
	}
	h.mu.Unlock()
	start := time.Now()
	status, body, hdr := h.get(cl, "/articles/kill")
	if status != http.StatusServiceUnavailable || strings.Contains(body, "paid body") || hdr.Get(deferred.HeaderCrawlerCharged) != "" {
		t.Fatalf("append failure: status %d body %q", status, body)
	}
	if h.hits("/articles/kill") != 1 {
		t.Fatal("the origin was not reached: the test did not exercise the append path")
	}
	// With Redis down, requests are refused quickly with 503, never hang.
	status, body, _ = h.get(cl, "/articles/2")
	if status != http.StatusServiceUnavailable || strings.Contains(body, "paid body") {
		t.Fatalf("ledger down: status %d body %q", status, body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("refusals took %s with Redis down", d)
	}
	// Free paths still work without the ledger.
	if status, _, _ := h.get(cl, "/free/x"); status != 200 {
		t.Fatalf("free path with ledger down: %d", status)
	}
	// Redis back: charging resumes, and the acknowledged commitment survived.
	h.redis.Restart()
	status, body, _ = h.get(cl, "/articles/3")
	if status != 200 || !strings.Contains(body, "paid body") {
		t.Fatalf("after restart: status %d body %q", status, body)
	}
	recs := h.commitments(c.operator)
	if len(recs) != 2 || recs[0].Path != "/articles/1" || recs[1].Path != "/articles/3" {
		for _, r := range recs {
			t.Logf("commitment %s %s", r.ID, r.Path)
		}
		t.Fatalf("commitments after restart: %d", len(recs))
	}
}

func TestCapBlockAndFree(t *testing.T) {
	h := newHarness(t)
	capped := h.newCrawler("op_capped", terms{cap: "0.025", maxPrice: "0.025"})
	cl := capped.client("0.05", deferred.DialectCrawlerPrice, true)
	for i, want := range []int{200, 200, 403} {
		status, body, hdr := h.get(cl, "/articles/"+string(rune('a'+i)))
		if status != want {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
		if want == 403 && (hdr.Get("crawler-error") != deferred.PaymentFailed || !strings.Contains(body, "cap")) {
			t.Fatalf("over cap: crawler-error %q body %q", hdr.Get("crawler-error"), body)
		}
	}
	if got := h.hits("/articles/c"); got != 0 {
		t.Fatalf("over-cap request reached the origin %d times", got)
	}

	blocked := h.newCrawler("op_blocked", defaultTerms)
	h.setCrawlerRule(pricing.OverrideConfig{Operator: blocked.operator, Action: "block"})
	status, _, hdr := h.get(blocked.client("0.05", deferred.DialectCrawlerPrice, true), "/articles/1")
	if status != http.StatusForbidden || hdr.Get("crawler-error") != deferred.CrawlerForbidden {
		t.Fatalf("blocked: %d %q", status, hdr.Get("crawler-error"))
	}
	// robots.txt stays free even for a blocked crawler.
	if status, _, _ := h.get(blocked.client("0.05", deferred.DialectCrawlerPrice, false), "/robots.txt"); status != 200 {
		t.Fatalf("robots.txt for a blocked crawler: %d", status)
	}
	status, _, hdr = h.get(http.DefaultClient, "/free/page")
	if status != 200 || hdr.Get(deferred.HeaderCrawlerCharged) != "" {
		t.Fatalf("free path: %d", status)
	}
	friend := h.newCrawler("op_friend", defaultTerms)
	h.setCrawlerRule(pricing.OverrideConfig{Agent: friend.agent, Action: "allow"})
	status, _, hdr = h.get(friend.client("0.05", deferred.DialectDeferred, false), "/articles/1")
	if status != 200 || hdr.Get(deferred.HeaderCrawlerCharged) != "" || len(h.commitments(friend.operator)) != 0 {
		t.Fatalf("allowed crawler: %d charged %q", status, hdr.Get(deferred.HeaderCrawlerCharged))
	}
}

func TestPriceAboveMax(t *testing.T) {
	h := newHarness(t)
	c := h.newCrawler("op_max", terms{cap: "1000", maxPrice: "0.02"})
	// The client's own max is below the premium price.
	status, _, hdr := h.get(c.client("0.02", deferred.DialectCrawlerPrice, true), "/premium/x")
	if status != 402 || hdr.Get("crawler-error") != deferred.InvalidCrawlerMaxPrice {
		t.Fatalf("client max: %d %q", status, hdr.Get("crawler-error"))
	}
	// A client that states no maximum of its own (the Payment header binds
	// only the offer) is held to its account's default max price.
	status, body, hdr := h.get(c.client("1.00", deferred.DialectDeferred, false), "/premium/x")
	if status != 402 || hdr.Get("crawler-error") != deferred.InvalidCrawlerMaxPrice || !strings.Contains(body, "account") {
		t.Fatalf("account max: %d %q %q", status, hdr.Get("crawler-error"), body)
	}
	if len(h.commitments(c.operator)) != 0 {
		t.Fatal("charged above the max price")
	}
	// A client that states its own higher maximum pays the price.
	if status, _, _ := h.get(c.client("1.00", deferred.DialectCrawlerPrice, true), "/premium/x"); status != 200 {
		t.Fatalf("own max above the price: %d", status)
	}
}

func TestSignatureWithoutPathRefusedUnderStrict(t *testing.T) {
	h := newHarness(t)
	h.useProfile(deferred.ProfileStrict)
	c := h.newCrawler("op_nopath", defaultTerms)
	req, _ := http.NewRequest("GET", h.srv.URL+"/articles/1", nil)
	req.Header.Set(deferred.HeaderCrawlerMaxPrice, "USD 0.05")
	signWithout(t, req, c, "@path")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Code, Message string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 400 || body.Code != string(deferred.CodeComponentNotCovered) || !strings.Contains(body.Message, "@path") {
		t.Fatalf("status %d body %+v", resp.StatusCode, body)
	}
	want := `sig1=("@authority" "@path" "signature-agent" "crawler-max-price");created;expires;keyid;tag="web-bot-auth"`
	if got := resp.Header.Get("Accept-Signature"); got != want {
		t.Fatalf("Accept-Signature %q, want %q", got, want)
	}
}

// A path with dot or empty segments, or with what some origins rewrite
// before they route (a backslash, plain or encoded, read as a slash by IIS;
// a ';' whose parameters Tomcat drops; a control character), is refused
// before pricing: it could be priced as one page and served as another.
func TestNonCanonicalPathRefused(t *testing.T) {
	h := newHarness(t)
	for _, p := range []string{"/free/../articles/1", "/free//x", "/free/./x",
		`/free/..\articles/1`, "/free/..%5Carticles/1", "/free/x%5C", "/articles;jsessionid=1/x", "/free/a%3Bb", "/free/a%00b", "/free/a%0Ab"} {
		req, _ := http.NewRequest("GET", h.srv.URL+"/", nil)
		req.URL.Opaque = p // sent as is, not cleaned by the client
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Code string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 400 || body.Code != string(deferred.CodePathNotCanonical) {
			t.Errorf("%s: status %d code %q, want 400 %s", p, resp.StatusCode, body.Code, deferred.CodePathNotCanonical)
		}
	}
	if n := h.originHitsTotal(); n != 0 {
		t.Fatalf("%d refused paths reached the origin", n)
	}
}

// lostReply is the real ledger whose first append lands but whose reply is
// lost on the way back, as with a connection dropped after Redis applied it.
type lostReply struct {
	*ledger.Ledger
	lost atomic.Bool
}

func (l *lostReply) Append(ctx context.Context, c *ledger.Commitment, lim ledger.Limits) (string, error) {
	id, err := l.Ledger.Append(ctx, c, lim)
	if err == nil && l.lost.CompareAndSwap(false, true) {
		return "", fmt.Errorf("%w: reply lost", ledger.ErrUnavailable)
	}
	return id, err
}

func TestAppendWithLostReplyIsResentNotRefused(t *testing.T) {
	h := newHarness(t)
	lr := &lostReply{Ledger: h.ledger}
	_, srv := h.startGateway(lr)
	h.srv = srv
	c := h.newCrawler("op_lost", defaultTerms)
	status, body, hdr := h.get(c.client("0.05", deferred.DialectCrawlerPrice, true), "/articles/1")
	if status != 200 || !strings.Contains(body, "paid body") || !lr.lost.Load() {
		t.Fatalf("status %d body %q lost %v", status, body, lr.lost.Load())
	}
	recs := h.commitments(c.operator)
	rc, _ := deferred.ParseReceipt(hdr)
	if len(recs) != 1 || rc == nil || rc.CommitmentID != recs[0].ID {
		t.Fatalf("commitments %d, receipt %+v: want one, named in the receipt", len(recs), rc)
	}
}

// With the registry's Redis down, a crawler whose key is not cached is
// refused with 503 directory_unavailable, quickly, never a 500, and the
// origin is not asked; a crawler already cached may be served from the
// resolver's cache (until the broken invalidation subscription empties it)
// and is then charged as usual. Once the registry is back, charging resumes.
func TestRegistryDownFailsClosed(t *testing.T) {
	h := newHarness(t)
	known := h.newCrawler("op_known", defaultTerms)
	fresh := h.newCrawler("op_fresh", defaultTerms)
	knownClient := known.client("0.05", deferred.DialectCrawlerPrice, true)
	freshClient := fresh.client("0.05", deferred.DialectCrawlerPrice, true)
	if status, _, _ := h.get(knownClient, "/articles/1"); status != 200 {
		t.Fatalf("warm-up: %d", status)
	}
	h.regRedis.Kill()
	start := time.Now()
	status, body, hdr := h.get(freshClient, "/articles/2")
	if status != http.StatusServiceUnavailable || hdr.Get("crawler-error") != deferred.InternalError || strings.Contains(body, "paid body") {
		t.Fatalf("unknown crawler, registry down: %d %q %q", status, hdr.Get("crawler-error"), body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("refusal took %s", d)
	}
	if h.hits("/articles/2") != 0 {
		t.Fatal("an unverifiable request reached the origin")
	}
	status, _, hdr = h.get(knownClient, "/articles/3")
	switch {
	case status == 200 && hdr.Get(deferred.HeaderCrawlerCharged) != "":
	case status == http.StatusServiceUnavailable && h.hits("/articles/3") == 0:
	default:
		t.Fatalf("cached crawler, registry down: %d charged %q", status, hdr.Get(deferred.HeaderCrawlerCharged))
	}
	h.regRedis.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, hdr = h.get(freshClient, "/articles/4")
		if status == 200 && hdr.Get(deferred.HeaderCrawlerCharged) != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry back: still %d", status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(h.commitments(fresh.operator)); n != 1 {
		t.Fatalf("%d commitments of the fresh crawler, want 1", n)
	}
}
