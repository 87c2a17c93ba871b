package paywall_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/paywall/keys"

	"github.com/paycrawl/paycrawl/internal/gateway"
	"github.com/paycrawl/paycrawl/internal/testcrawler"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/paywall"
	"github.com/paycrawl/paycrawl/pkg/pricing"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// A crawler that pays a gateway's site and a middleware's site on one day
// gets one invoice for both: the same ledger, the same crawler-day, one
// line per publisher site.
func TestMiddlewareAndGatewayChargesShareTheInvoice(t *testing.T) {
	e := newEnv(t, paywall.Options{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "article") }))
	t.Cleanup(origin.Close)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	cfg := &gateway.Config{OfferKeys: []string{hex.EncodeToString(key)}, Sites: []pricing.SiteConfig{
		{Host: "127.0.0.1", Origin: origin.URL, Publisher: "pub_news", Currency: "USD", DefaultPrice: "0.01"}}}
	gw, err := gateway.New(gateway.Options{Config: cfg, Ledger: e.ledger, Accounts: keys.Accounts(e.reg.Resolver), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	gsrv := httptest.NewServer(gw)
	t.Cleanup(gsrv.Close)

	c := e.reg.NewCrawler(t, "op_both", testcrawler.DefaultTerms)
	cl := client(c, deferred.DialectX402)
	for _, u := range []string{gsrv.URL + "/a", e.srv.URL + "/data", e.srv.URL + "/data"} {
		if status, body, _ := get(t, cl, u); status != 200 {
			t.Fatalf("%s: %d %s", u, status, body)
		}
	}
	s, err := settle.New(settle.Options{Ledger: e.ledger, Payers: settle.RegistryPayers{Store: e.reg.Store},
		Config: settle.DefaultConfig(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	day := ledger.Day(time.Now())
	if _, err := s.CloseEarly(context.Background(), day); err != nil {
		t.Fatal(err)
	}
	inv, err := e.ledger.Invoice(context.Background(), ledger.InvoiceID(c.Operator, day, "USD"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ledger.Line{
		"pub_news": {Publisher: "pub_news", Site: "127.0.0.1", Count: 1, Amount: 10_000},
		"pub_api":  {Publisher: "pub_api", Site: "api.example", Count: 2, Amount: 4_000},
	}
	if len(inv.Lines) != 2 || inv.Total != 14_000 {
		t.Fatalf("invoice lines %+v total %d, want the gateway's and the middleware's, 14000", inv.Lines, inv.Total)
	}
	for _, l := range inv.Lines {
		if l != want[l.Publisher] {
			t.Errorf("line %+v, want %+v", l, want[l.Publisher])
		}
	}
}
