package gateway_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// A charged request makes one ledger round trip, the append: the checks
// before the origin ask what this gateway saw the ledger record. What it did
// not see (another replica's appends) the append refuses, after the origin
// answered and before a byte of the page is sent; what it saw, it refuses
// before the origin.

func TestOverCapSeenOnlyByTheLedger(t *testing.T) {
	h := newHarness(t)
	_, other := h.startGateway(h.ledger) // a second replica on the same ledger
	c := h.newCrawler("op_cap_replicas", terms{cap: "0.025", maxPrice: "0.025"})
	cl := c.client("0.05", deferred.DialectCrawlerPrice, true)
	for _, p := range []string{"/articles/r1", "/articles/r2"} {
		if status, body, _ := h.get(cl, p); status != 200 {
			t.Fatalf("%s: %d %q", p, status, body)
		}
	}
	// The other replica has seen nothing: the origin is asked, the append
	// refuses, and nothing of the page leaves.
	get := func(path string) (int, string, http.Header) {
		resp, err := cl.Get(other.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	status, body, hdr := get("/articles/r3")
	if status != 403 || hdr.Get("crawler-error") != deferred.PaymentFailed || strings.Contains(body, "paid body") ||
		hdr.Get(deferred.HeaderCrawlerCharged) != "" || !strings.Contains(body, "nothing was charged") {
		t.Fatalf("over cap at the other replica: %d %q %v", status, body, hdr)
	}
	if h.hits("/articles/r3") != 1 {
		t.Fatalf("origin hits %d, want 1 (the ledger refused after the origin answered)", h.hits("/articles/r3"))
	}
	// Now it knows: the next page at that price is refused before the origin.
	if status, body, _ := get("/articles/r4"); status != 403 || h.hits("/articles/r4") != 0 {
		t.Fatalf("over cap again: %d %q, origin hits %d", status, body, h.hits("/articles/r4"))
	}
	if n := len(h.commitments(c.operator)); n != 2 {
		t.Fatalf("%d commitments, want 2", n)
	}
}

func TestReplaySeenOnlyByTheLedger(t *testing.T) {
	h := newHarness(t)
	_, other := h.startGateway(h.ledger)
	c := h.newCrawler("op_replay_replicas", defaultTerms)
	req, _ := http.NewRequest("GET", h.srv.URL+"/articles/once", nil)
	req.Header.Set(deferred.HeaderCrawlerMaxPrice, "USD 0.05")
	if err := c.signer.Sign(req, deferred.HeaderCrawlerMaxPrice); err != nil {
		t.Fatal(err)
	}
	send := func(base string) (int, string, http.Header) {
		out := req.Clone(req.Context())
		u, _ := url.Parse(base)
		out.URL.Host = u.Host // the signed authority stays in out.Host
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	if status, body, _ := send(h.srv.URL); status != 200 {
		t.Fatalf("first use: %d %q", status, body)
	}
	status, body, hdr := send(other.URL)
	if status != 400 || hdr.Get("crawler-error") == "" || strings.Contains(body, "paid body") || hdr.Get(deferred.HeaderCrawlerCharged) != "" {
		t.Fatalf("replay at the other replica: %d %q %v", status, body, hdr)
	}
	if !strings.Contains(body, string(deferred.CodeReplay)) || !strings.Contains(body, "nothing was charged") {
		t.Fatalf("replay at the other replica says %q", body)
	}
	// At the replica that recorded it, the replay never reaches the origin.
	if status, _, _ := send(h.srv.URL); status != 400 || h.hits("/articles/once") != 2 {
		t.Fatalf("replay at the first replica: %d, origin hits %d (want 2: the first use and the other replica's)", status, h.hits("/articles/once"))
	}
	if n := len(h.commitments(c.operator)); n != 1 {
		t.Fatalf("%d commitments, want 1", n)
	}
}
