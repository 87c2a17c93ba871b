package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// A crawler whose evm billing profile was stored before wallets had to be
// proven is not served paid pages: the settler would refuse to charge it.
func TestUnprovenWalletIsNotServedPaidPages(t *testing.T) {
	h := newHarness(t)
	c := h.newCrawler("op_legacy", defaultTerms)
	legacy := `{"rail":"evm","wallet":"0x52908400098527886E0F7030069857D2E4169EE7","currency":"USDC","daily_cap":"1000","default_max_price":"1.00"}`
	if err := h.store.Redis().HSet(context.Background(), "pc:reg:{reg}:op:"+c.operator, "billing", legacy).Err(); err != nil {
		t.Fatal(err)
	}
	status, body, hdr := h.get(c.client("0.05", deferred.DialectCrawlerPrice, true), "/articles/legacy")
	if status != http.StatusForbidden || hdr.Get("crawler-error") != deferred.PaymentFailed ||
		!strings.Contains(body, "no proof that it is yours") || strings.Contains(body, "paid body") {
		t.Fatalf("unproven wallet: %d %q %s", status, hdr.Get("crawler-error"), body)
	}
	if h.hits("/articles/legacy") != 0 || len(h.commitments(c.operator)) != 0 {
		t.Fatal("an unproven wallet's request reached the origin or was recorded")
	}
	// Free pages stay free.
	if status, _, _ := h.get(c.client("0.05", deferred.DialectCrawlerPrice, true), "/free/x"); status != 200 {
		t.Fatalf("free page: %d", status)
	}
}
