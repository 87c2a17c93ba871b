package gateway_test

import (
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// BenchmarkRequestPath measures a paid request end to end through the
// gateway: verification, replay and cap checks, origin, ledger append, with
// the origin and redis-server on loopback. Requests are signed beforehand
// (each with its own nonce), so the crawler's signing cost is not counted.
func BenchmarkRequestPath(b *testing.B) {
	h := newHarness(b)
	c := h.newCrawler("op_bench", terms{cap: "1000000", maxPrice: "1"})
	reqs := make(chan *http.Request, b.N)
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("GET", h.srv.URL+"/articles/"+strconv.Itoa(i), nil)
		req.Header.Set(deferred.HeaderCrawlerMaxPrice, "USD 0.05")
		if err := c.signer.Sign(req, deferred.HeaderCrawlerMaxPrice); err != nil {
			b.Fatal(err)
		}
		reqs <- req
	}
	close(reqs)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := tr.RoundTrip(<-reqs)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d: %s", resp.StatusCode, resp.Header.Get("crawler-error"))
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
