package gateway_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// One signature buys one page, however it is resent: copies sent at once,
// with the same client X-Request-Id (which once became the ledger's
// idempotency key and made every copy a harmless "retry") or without one,
// get exactly one 2xx and leave exactly one commitment.
func TestOneSignatureOnePageUnderConcurrentCopies(t *testing.T) {
	h := newHarness(t)
	for _, tt := range []struct {
		name, clientID string
	}{
		{"same client request id", "attacker-chosen-id"},
		{"no client request id", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := h.newCrawler("op_copies_"+map[bool]string{true: "id", false: "noid"}[tt.clientID != ""], defaultTerms)
			req, _ := http.NewRequest("GET", h.srv.URL+"/articles/copies", nil)
			req.Header.Set(deferred.HeaderCrawlerMaxPrice, "USD 0.05")
			if err := c.signer.Sign(req, deferred.HeaderCrawlerMaxPrice); err != nil {
				t.Fatal(err)
			}
			if tt.clientID != "" {
				req.Header.Set("X-Request-Id", tt.clientID)
			}
			const copies = 50
			statuses := make([]int, copies)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range copies {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					resp, err := http.DefaultTransport.RoundTrip(req.Clone(req.Context()))
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
			if n := len(h.commitments(c.operator)); n != 1 {
				t.Errorf("%d commitments for one signature, want 1", n)
			}
		})
	}
}
