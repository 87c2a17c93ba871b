package gateway_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/pricing"
)

// Reloading prices under load drops no request, and new prices apply at once.
func TestReloadUnderLoad(t *testing.T) {
	h := newHarness(t)
	c := h.newCrawler("op_reload", defaultTerms)
	cl := c.client("1.00", deferred.DialectCrawlerPrice, true)
	var wg sync.WaitGroup
	var failed atomic.Int64
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := cl.Get(h.srv.URL + "/articles/x")
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		}()
	}
	sites := h.cfg.Sites
	for i := 0; i < 20; i++ {
		next := append([]pricing.SiteConfig(nil), sites...)
		next[0].DefaultPrice = []string{"0.01", "0.02"}[i%2]
		if err := h.gw.Reload(next); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d requests failed during reloads", n)
	}
	// A bad configuration is refused and the running one kept.
	bad := append([]pricing.SiteConfig(nil), sites...)
	bad[0].DefaultPrice = "free"
	if err := h.gw.Reload(bad); err == nil {
		t.Fatal("invalid prices accepted on reload")
	}
	_, _, hdr := h.get(cl, "/articles/after")
	if got := hdr.Get(deferred.HeaderCrawlerCharged); got != "USD 0.02" {
		t.Fatalf("after reloads charged %q, want the last good price USD 0.02", got)
	}
}
