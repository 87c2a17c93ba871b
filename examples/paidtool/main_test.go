package main

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/paycrawl/paycrawl/internal/testcrawler"
	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/paywall"
	"github.com/paycrawl/paycrawl/pkg/paywall/keys"
	"github.com/paycrawl/paycrawl/pkg/pricing"
)

// TestPaidToolCalls drives the MCP server with the go-sdk's own client over
// streamable HTTP, signed by a registered crawler, on a real redis-server
// ledger: only the paid tool's call is charged, once, at its price; an
// unsigned client is refused that call and charged nothing.
func TestPaidToolCalls(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg := testcrawler.Start(t)
	rdb, err := ledger.NewClient(ledger.ClientConfig{Addrs: []string{testredis.Start(t, testredis.Options{Fsync: "always"}).Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	led, err := ledger.New(rdb, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	h, err := newHandler(paywall.Options{Ledger: led, Accounts: keys.Accounts(reg.Resolver), OfferSecrets: [][]byte{secret}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	crawler := reg.NewCrawler(t, "toolbot", testcrawler.DefaultTerms)

	connect := func(hc *http.Client) *mcp.ClientSession {
		t.Helper()
		c := mcp.NewClient(&mcp.Implementation{Name: "toolbot", Version: "1"}, nil)
		s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL + "/mcp", HTTPClient: hc, MaxRetries: -1}, nil)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	charged := func() (n int, sum money.Micros) {
		t.Helper()
		err := led.Commitments(ctx, crawler.Operator, ledger.Day(time.Now()), func(c *ledger.Commitment) error {
			n, sum = n+1, sum+c.Price
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n, sum
	}

	signed := connect(&http.Client{Transport: &deferred.Transport{Signer: crawler.Signer,
		MaxPrice: money.Amount{Currency: "USD", Value: 10_000}, Dialect: deferred.DialectCrawlerPrice}})
	tools, err := signed.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) != 2 {
		t.Fatalf("tools/list: %v %v", tools, err)
	}
	if _, err := signed.CallTool(ctx, &mcp.CallToolParams{Name: "ping"}); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if n, _ := charged(); n != 0 {
		t.Fatalf("%d commitments after free messages, want 0", n)
	}
	res, err := signed.CallTool(ctx, &mcp.CallToolParams{Name: "quote", Arguments: map[string]any{"symbol": "acme"}})
	if err != nil || res.IsError {
		t.Fatalf("quote: %+v %v", res, err)
	}
	if out, _ := res.StructuredContent.(map[string]any); out["symbol"] != "ACME" {
		t.Fatalf("quote answered %+v", res.StructuredContent)
	}
	if n, sum := charged(); n != 1 || sum != 5_000 {
		t.Fatalf("after one paid call: %d commitments for %d micros, want 1 for 5000", n, sum)
	}

	// No signature: the free messages work, the paid call is refused (402)
	// and nothing more is recorded.
	unsigned := connect(http.DefaultClient)
	if _, err := unsigned.CallTool(ctx, &mcp.CallToolParams{Name: "ping"}); err != nil {
		t.Fatalf("unsigned ping: %v", err)
	}
	_, err = unsigned.CallTool(ctx, &mcp.CallToolParams{Name: "quote", Arguments: map[string]any{"symbol": "acme"}})
	if err == nil || !strings.Contains(err.Error(), http.StatusText(http.StatusPaymentRequired)) {
		t.Fatalf("an unsigned paid tool call: %v, want a 402 refusal", err)
	}
	if n, _ := charged(); n != 1 {
		t.Fatalf("%d commitments after the unsigned call, want 1", n)
	}
}

// TestPriceToolCalls prices bodies: one call, a batch (summed), free
// messages, and bodies that are not JSON-RPC (priced as the dearest tool,
// never free).
func TestPriceToolCalls(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       money.Micros
	}{
		{"paid call", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"quote"}}`, 5_000},
		{"free call", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping"}}`, 0},
		{"list", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 0},
		{"batch", `[{"method":"tools/call","params":{"name":"quote"}},{"method":"tools/call","params":{"name":"quote"}}]`, 10_000},
		{"not json", `{"method":"tools/call"`, 5_000},
		{"empty", ``, 5_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/mcp", strings.NewReader(tc.body))
			d := priceToolCalls(r, pricing.Crawler{})
			if d.Price.Value != tc.want {
				t.Fatalf("price %d (%s), want %d", d.Price.Value, d.Reason, tc.want)
			}
			// The handler still reads the whole body.
			b := new(strings.Builder)
			if _, err := io.Copy(b, r.Body); err != nil || b.String() != tc.body {
				t.Fatalf("body after pricing: %q %v", b.String(), err)
			}
		})
	}
}
