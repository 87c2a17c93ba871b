package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// One signature buys one page, however it is resent: copies sent at once,
// with the same client X-Request-Id (which once became the ledger's
// idempotency key and made every copy a harmless "retry") or without one,
// get exactly one 2xx and leave exactly one commitment.
//
// Under the reference profile (the default) the signature names no page, so
// the replay guard is all that binds it to one: the same must hold there as
// under the strict profile.
func TestOneSignatureOnePageUnderConcurrentCopies(t *testing.T) {
	for _, profile := range []deferred.Profile{deferred.ProfileReference, deferred.ProfileStrict} {
		t.Run(string(profile), func(t *testing.T) { oneSignatureOnePage(t, profile) })
	}
}

func oneSignatureOnePage(t *testing.T, profile deferred.Profile) {
	h := newHarness(t)
	h.useProfile(profile)
	for _, tt := range []struct {
		name, clientID string
	}{
		{"same client request id", "attacker-chosen-id"},
		{"no client request id", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := h.newCrawler("op_copies_"+string(profile)+"_"+map[bool]string{true: "id", false: "noid"}[tt.clientID != ""], defaultTerms)
			c.signer.Profile = profile
			req, _ := http.NewRequest("GET", h.srv.URL+"/articles/copies", nil)
			req.Header.Set(deferred.HeaderCrawlerMaxPrice, "USD 0.05")
			if err := c.signer.Sign(req, deferred.HeaderCrawlerMaxPrice); err != nil {
				t.Fatal(err)
			}
			if tt.clientID != "" {
				req.Header.Set("X-Request-Id", tt.clientID)
			}
			statuses := sendAtOnce(t, 50, func(int) *http.Request { return req.Clone(req.Context()) })
			ok := 0
			for _, s := range statuses {
				switch {
				case s >= 200 && s <= 299:
					ok++
				case s == http.StatusBadRequest: // replay
				default:
					t.Errorf("a copy got %d, want 200 or 400 replay", s)
				}
			}
			if ok != 1 {
				t.Errorf("%d copies of one signature got a 2xx, want exactly 1 (statuses %v)", ok, statuses)
			}
			recs := h.commitments(c.operator)
			if n := len(recs); n != 1 {
				t.Fatalf("%d commitments for one signature, want 1", n)
			}
			if covers := strings.Contains(recs[0].SignatureInput, `"@path"`); covers != (profile == deferred.ProfileStrict) {
				t.Errorf("profile %s, signature covers @path: %v (%s)", profile, covers, recs[0].SignatureInput)
			}
		})
	}
}

// A reference signature names its host but not its page: replayed on
// another page of the same host, it is refused as a replay and charged once,
// whether the copies come one after the other or all at once.
func TestReferenceSignatureReplayedOnAnotherPage(t *testing.T) {
	h := newHarness(t)
	signFor := func(c *crawler, path string) *http.Request {
		req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
		req.Header.Set(deferred.HeaderCrawlerMaxPrice, "USD 0.05")
		if err := c.signer.Sign(req, deferred.HeaderCrawlerMaxPrice); err != nil {
			t.Fatal(err)
		}
		return req
	}
	onPage := func(req *http.Request, path string) *http.Request {
		out := req.Clone(req.Context())
		out.URL.Path = path
		return out
	}
	send := func(req *http.Request) (int, string) {
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Code string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Code
	}

	t.Run("in turn", func(t *testing.T) {
		c := h.newCrawler("op_pageswap", defaultTerms)
		req := signFor(c, "/articles/page-a")
		if status, code := send(req); status != 200 {
			t.Fatalf("page A: %d %s", status, code)
		}
		for _, p := range []string{"/articles/page-b", "/premium/page-c", "/articles/page-a"} {
			if status, code := send(onPage(req, p)); status != 400 || code != string(deferred.CodeReplay) {
				t.Fatalf("replayed on %s: %d %s, want 400 %s", p, status, code, deferred.CodeReplay)
			}
		}
		recs := h.commitments(c.operator)
		if len(recs) != 1 || recs[0].Path != "/articles/page-a" {
			t.Fatalf("commitments %+v, want one for page A", recs)
		}
		if h.hits("/articles/page-b") != 0 || h.hits("/premium/page-c") != 0 {
			t.Fatal("a replay reached the origin")
		}
	})

	t.Run("at once", func(t *testing.T) {
		c := h.newCrawler("op_pageswap_race", defaultTerms)
		req := signFor(c, "/articles/race-a")
		statuses := sendAtOnce(t, 40, func(i int) *http.Request { return onPage(req, fmt.Sprintf("/articles/race-%c", 'a'+i%4)) })
		ok := 0
		for _, s := range statuses {
			if s/100 == 2 {
				ok++
			} else if s != 400 {
				t.Errorf("a copy got %d", s)
			}
		}
		if ok != 1 || len(h.commitments(c.operator)) != 1 {
			t.Fatalf("%d copies served, %d commitments; want exactly one of each (statuses %v)", ok, len(h.commitments(c.operator)), statuses)
		}
	})
}

// sendAtOnce sends the n requests made by req together, released at one
// instant, and returns their statuses in order (0 for a transport error,
// which fails t).
func sendAtOnce(t *testing.T, n int, req func(i int) *http.Request) []int {
	t.Helper()
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		r := req(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := http.DefaultTransport.RoundTrip(r)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	return statuses
}
