package gateway_test

import (
	"encoding/csv"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/gateway"
	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/prometheus/client_golang/prometheus"
)

func TestPublisherUsage(t *testing.T) {
	h := newHarness(t)
	a := h.newCrawler("op_a", defaultTerms)
	b := h.newCrawler("op_b", defaultTerms)
	for _, p := range []string{"/articles/1", "/articles/2", "/premium/3"} {
		if status, _, _ := h.get(a.client("0.05", deferred.DialectCrawlerPrice, true), p); status != 200 {
			t.Fatalf("%s: %d", p, status)
		}
	}
	if status, body, hdr := h.get(b.client("0.05", deferred.DialectDeferred, false), "/articles/1"); status != 200 {
		t.Fatalf("crawler b: %d %s %q", status, hdr.Get("crawler-error"), body)
	}
	admin := httptest.NewServer(httpx.Middleware(slog.New(slog.DiscardHandler),
		gateway.AdminHandler(h.cfg, h.ledger, prometheus.NewRegistry(), time.Now)))
	t.Cleanup(admin.Close)

	get := func(path, token string) *http.Response {
		req, _ := http.NewRequest("GET", admin.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, tok := range []string{"", "wrong"} {
		if resp := get("/v1/usage", tok); resp.StatusCode != 401 {
			t.Errorf("token %q: status %d", tok, resp.StatusCode)
		}
	}
	resp := get("/v1/usage", publisherToken)
	var out struct {
		Publisher string             `json:"publisher"`
		Usage     []gateway.UsageRow `json:"usage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Publisher != "pub_news" {
		t.Fatalf("usage: %v %+v", err, out)
	}
	got := map[string]gateway.UsageRow{}
	for _, r := range out.Usage {
		got[r.Crawler] = r
	}
	if got[a.operator].Requests != 3 || got[a.operator].Amount != "0.07" || got[b.operator].Requests != 1 || got[b.operator].AmountMicros != 10_000 {
		t.Fatalf("usage rows %+v", out.Usage)
	}
	resp = get("/v1/usage?format=csv", publisherToken)
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(rows) != 3 || strings.Join(rows[0], ",") != "day,crawler,site,currency,requests,amount" {
		t.Fatalf("csv %v %v", rows, err)
	}
	if resp := get("/v1/usage?from=2026-01-01&to=2026-12-31", publisherToken); resp.StatusCode != 400 {
		t.Errorf("a year-long range: status %d", resp.StatusCode)
	}
	if resp := get("/v1/usage?day=yesterday", publisherToken); resp.StatusCode != 400 {
		t.Errorf("bad day: status %d", resp.StatusCode)
	}
	if resp := get("/metrics", ""); resp.StatusCode != 200 {
		t.Errorf("metrics: %d", resp.StatusCode)
	}
}
