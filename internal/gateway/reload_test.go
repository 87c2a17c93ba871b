package gateway_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/paywall/keys"

	"github.com/paycrawl/paycrawl/internal/gateway"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/pricing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
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

// A reload from a file with a typo inside a site is refused, counted and
// logged, and the running prices stay.
func TestReloadFileRefusesTyposAndKeepsPrices(t *testing.T) {
	h := newHarness(t)
	m := gateway.NewMetrics(prometheus.NewRegistry())
	gw, err := gateway.New(gateway.Options{Config: h.cfg, Ledger: h.ledger, Accounts: keys.Accounts(h.resolver),
		Metrics: m, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	price := func() string {
		resp, err := http.Get(srv.URL + "/articles/1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("crawler-price")
	}
	before := price()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	src := strings.Replace(h.rawConfig, `default_price: "0.01"`, `default_prcie: "0.02"`, 1)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := gw.ReloadFile(path); err == nil || !strings.Contains(err.Error(), `"default_prcie"`) {
		t.Fatalf("reload of a typo: %v", err)
	}
	if got := price(); got != before || testutil.ToFloat64(m.ReloadOK) != 0 || testutil.ToFloat64(m.Reloads.WithLabelValues("refused")) != 1 {
		t.Fatalf("after a refused reload: price %q (was %q), ok gauge %v", got, before, testutil.ToFloat64(m.ReloadOK))
	}
	src = strings.Replace(h.rawConfig, `default_price: "0.01"`, `default_price: "0.02"`, 1)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := gw.ReloadFile(path); err != nil {
		t.Fatal(err)
	}
	if got := price(); got != "USD 0.02" || testutil.ToFloat64(m.ReloadOK) != 1 {
		t.Fatalf("after a good reload: price %q", got)
	}
}
