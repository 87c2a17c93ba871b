// Command paidtool is an MCP server whose tool calls are paid for: it
// serves MCP's streamable HTTP transport (github.com/modelcontextprotocol/go-sdk)
// behind pkg/paywall, and prices each request by the tools it calls. A call
// of the "quote" tool costs USD 0.005; "ping", initialize, tools/list and
// notifications are free. A signed crawler's charges land in paycrawl's
// ledger, on the same daily invoices as the gateway's; an unsigned client
// gets the 402 offer when it calls a paid tool. Run it beside a key
// directory and its Redis:
//
//	go run ./examples/paidtool -redis 127.0.0.1:6380 -keydir http://127.0.0.1:8403 -offer-key $(openssl rand -hex 32)
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/paycrawl/paycrawl/examples/internal/exampleenv"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/paywall"
	"github.com/paycrawl/paycrawl/pkg/pricing"
)

func main() { exampleenv.Main("127.0.0.1:8081", newHandler) }

// prices are the tools' prices in micro-units of USD; a tool not listed
// is free.
var prices = map[string]money.Micros{"quote": 5_000}

// maxBody bounds what the pricing reads of a request body (the paywall's
// MaxBodyBytes bounds what the MCP handler reads).
const maxBody = 1 << 20

// newHandler is the MCP server behind a paywall whose Site prices each
// request by its tool calls. o carries the ledger, accounts and secrets.
func newHandler(o paywall.Options) (http.Handler, error) {
	site, err := paywall.NewSite(pricing.SiteConfig{Host: "tools.example", Publisher: "pub_tools", Currency: "USD", DefaultPrice: "0"})
	if err != nil {
		return nil, err
	}
	site.Price = priceToolCalls
	o.Site = site
	pw, err := paywall.New(o)
	if err != nil {
		return nil, err
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "paidtool", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "quote", Description: "The price of a symbol (paid: USD 0.005 a call)."}, quote)
	mcp.AddTool(s, &mcp.Tool{Name: "ping", Description: "Free: answers pong."}, ping)
	// Stateless, JSON answers: every tool call is one POST answered by one
	// 2xx, which is what the paywall charges for.
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
	mux := http.NewServeMux()
	mux.Handle("/mcp", mcpHandler)
	return pw.Wrap(mux), nil
}

// rpcCall is what pricing reads of a JSON-RPC message.
type rpcCall struct {
	Method string `json:"method"`
	Params struct {
		Name string `json:"name"`
	} `json:"params"`
}

// priceToolCalls prices a request by the tools/call messages in its body
// (one message, or the sum over a batch), and puts the body back for the
// handler. A body it cannot read as JSON-RPC is priced as the dearest tool:
// the MCP handler refuses it with a 4xx, which is never charged, and a body
// that the handler would accept cannot ride free.
func priceToolCalls(r *http.Request, _ pricing.Crawler) pricing.Decision {
	if r.Method != http.MethodPost || r.Body == nil {
		return pricing.Decision{Action: pricing.Allow, Reason: "not a call"}
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	var total money.Micros
	var named []string
	calls, ok := parseCalls(head)
	if err != nil || len(head) > maxBody || !ok {
		total, named = dearest(), []string{"unreadable body"}
	}
	for _, c := range calls {
		if c.Method == "tools/call" && prices[c.Params.Name] > 0 {
			total += prices[c.Params.Name]
			named = append(named, c.Params.Name)
		}
	}
	if total == 0 {
		return pricing.Decision{Action: pricing.Allow, Reason: "free MCP message"}
	}
	return pricing.Decision{Action: pricing.Charge, Price: money.Amount{Currency: "USD", Value: total},
		Reason: "tools " + strings.Join(named, ",")}
}

// parseCalls reads one JSON-RPC message or a batch of them.
func parseCalls(b []byte) ([]rpcCall, bool) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var calls []rpcCall
		return calls, json.Unmarshal(b, &calls) == nil
	}
	var c rpcCall
	if json.Unmarshal(b, &c) != nil {
		return nil, false
	}
	return []rpcCall{c}, true
}

func dearest() money.Micros {
	var m money.Micros
	for _, p := range prices {
		m = max(m, p)
	}
	return m
}

// QuoteIn is the quote tool's input.
type QuoteIn struct {
	Symbol string `json:"symbol" jsonschema:"the ticker symbol"`
}

// QuoteOut is the quote tool's answer.
type QuoteOut struct {
	Symbol      string       `json:"symbol"`
	PriceMicros money.Micros `json:"price_micros"`
}

func quote(_ context.Context, _ *mcp.CallToolRequest, in QuoteIn) (*mcp.CallToolResult, QuoteOut, error) {
	return nil, QuoteOut{Symbol: strings.ToUpper(in.Symbol), PriceMicros: 123_450_000}, nil
}

func ping(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "pong"}}}, struct{}{}, nil
}
