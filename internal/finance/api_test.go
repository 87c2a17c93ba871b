package finance_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/internal/testledger"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// TestAPIRoles: no token or a wrong one is a 401 with WWW-Authenticate; a
// viewer reads but gets a 403 when acting; a finance token acts; a session
// cookie is no credential for the API.
func TestAPIRoles(t *testing.T) {
	w := newWorld(t)
	w.use("op_acme", "pub_news", "news.example", "USD", 100_000)
	w.close()
	id := w.id("op_acme", "USD")
	hold := wire.ActionRequest{Reason: "checking"}
	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"no token", "GET", "/v1/invoices", "", nil, 401, "unauthorized"},
		{"wrong token", "GET", "/v1/invoices", "fin_not_a_token", nil, 401, "unauthorized"},
		{"a token's hash is not the token", "GET", "/v1/invoices", sha(aliceToken), nil, 401, "unauthorized"},
		{"viewer lists", "GET", "/v1/invoices", victorToken, nil, 200, ""},
		{"viewer reads", "GET", "/v1/invoices/" + id, victorToken, nil, 200, ""},
		{"viewer summary", "GET", "/v1/days/" + w.day + "/summary", victorToken, nil, 200, ""},
		{"viewer exports", "GET", "/v1/days/" + w.day + "/invoices.csv", victorToken, nil, 200, ""},
		{"viewer audits", "GET", "/v1/invoices/" + id + "/audit", victorToken, nil, 200, ""},
		{"viewer holds", "POST", "/v1/invoices/" + id + "/hold", victorToken, hold, 403, "forbidden"},
		{"viewer voids", "POST", "/v1/invoices/" + id + "/void", victorToken, hold, 403, "forbidden"},
		{"viewer credits", "POST", "/v1/invoices/" + id + "/lines/1/credit", victorToken, wire.CreditRequest{Amount: "0.01", Reason: "x"}, 403, "forbidden"},
		{"no token holds", "POST", "/v1/invoices/" + id + "/hold", "", hold, 401, "unauthorized"},
		{"finance holds", "POST", "/v1/invoices/" + id + "/hold", aliceToken, hold, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := w.call(tt.method, tt.path, tt.token, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			if tt.code != "" {
				e := decode[apiError](t, body)
				if e.Code != tt.code || e.Message == "" || e.RequestID == "" {
					t.Fatalf("error %+v, want code %s", e, tt.code)
				}
			}
		})
	}
	// The 401 says how to authenticate; a cookie is not enough.
	req, _ := http.NewRequest("GET", w.ts.URL+"/v1/invoices", nil)
	req.AddCookie(&http.Cookie{Name: "paycrawl_finance", Value: "anything"})
	resp, err := w.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("cookie on the API: %d %v", resp.StatusCode, resp.Header)
	}
	// The viewer's refusals changed nothing; alice's hold is recorded as hers.
	inv := w.invoice(id)
	last := inv.History[len(inv.History)-1]
	if inv.Status != ledger.StatusHeld || last.Actor != "alice" || last.Reason != "checking" {
		t.Fatalf("invoice %s, last event %+v", inv.Status, last)
	}
}

// TestAPIActionsInEveryStatus runs every action through the API on an
// invoice in every status: 200 with changed=true when allowed (and
// changed=false when repeated), 200 with changed=false when it already took
// effect, 409 wrong_status naming the status otherwise.
func TestAPIActionsInEveryStatus(t *testing.T) {
	w := newWorld(t)
	type call struct {
		path string
		body any
	}
	actions := []struct {
		name    string
		req     func(id string) call
		to      ledger.Status
		done    ledger.Status
		allowed []ledger.Status
		verb    string
	}{
		{"hold", func(id string) call {
			return call{"/v1/invoices/" + id + "/hold", wire.ActionRequest{Reason: "disputed"}}
		},
			ledger.StatusHeld, ledger.StatusHeld, []ledger.Status{ledger.StatusDraft, ledger.StatusApproved, ledger.StatusFailed}, "hold"},
		{"release", func(id string) call { return call{"/v1/invoices/" + id + "/release", nil} },
			ledger.StatusDraft, ledger.StatusDraft, []ledger.Status{ledger.StatusHeld}, "release"},
		{"void", func(id string) call {
			return call{"/v1/invoices/" + id + "/void", wire.ActionRequest{Reason: "test traffic"}}
		},
			ledger.StatusVoid, ledger.StatusVoid, []ledger.Status{ledger.StatusDraft, ledger.StatusHeld, ledger.StatusApproved, ledger.StatusFailed}, "void"},
		{"approve", func(id string) call { return call{"/v1/invoices/" + id + "/approve", wire.ActionRequest{}} },
			ledger.StatusApproved, ledger.StatusApproved, []ledger.Status{ledger.StatusDraft}, "approve"},
		{"credit", func(id string) call {
			return call{"/v1/invoices/" + id + "/lines/1/credit", wire.CreditRequest{Amount: "0.05", Reason: "duplicate fetches"}}
		}, "", "", []ledger.Status{ledger.StatusDraft, ledger.StatusHeld}, "credit a line"},
	}
	account := func(a string, st ledger.Status) string { return "op_" + a + "_" + string(st) }
	for _, a := range actions {
		for _, st := range testledger.Statuses() {
			w.use(account(a.name, st), "pub_news", "news.example", "USD", 100_000, 200_000)
		}
	}
	w.close()
	for _, a := range actions {
		for _, st := range testledger.Statuses() {
			w.drive(w.id(account(a.name, st), "USD"), st, ledger.Settlement{})
		}
	}
	for _, a := range actions {
		for _, st := range testledger.Statuses() {
			t.Run(a.name+" "+string(st), func(t *testing.T) {
				id := w.id(account(a.name, st), "USD")
				before := w.invoice(id)
				c := a.req(id)
				status, body := w.call("POST", c.path, aliceToken, c.body)
				allowed := false
				for _, s := range a.allowed {
					allowed = allowed || s == st
				}
				switch {
				case allowed:
					res := decode[wire.ActionResult](t, body)
					want := a.to
					if want == "" {
						want = st
					}
					if status != 200 || !res.Changed || res.Invoice.Status != string(want) || res.Action != a.name || res.Message == "" {
						t.Fatalf("%d %s", status, body)
					}
					if a.name == "credit" && (res.Invoice.Total != "0.25" || res.Invoice.Lines[0].Credit != "0.05") {
						t.Fatalf("credit: %s", body)
					}
					status, body = w.call("POST", c.path, aliceToken, c.body)
					again := decode[wire.ActionResult](t, body)
					if status != 200 || again.Changed || !strings.Contains(again.Message, "nothing changed") ||
						len(w.invoice(id).History) != len(before.History)+1 {
						t.Fatalf("repeat: %d %s", status, body)
					}
				case st == a.done:
					res := decode[wire.ActionResult](t, body)
					if status != 200 || res.Changed || len(w.invoice(id).History) != len(before.History) {
						t.Fatalf("%d %s", status, body)
					}
				default:
					e := decode[apiError](t, body)
					want := fmt.Sprintf("invoice %s is %s: cannot %s", id, st, a.verb)
					if status != 409 || e.Code != "wrong_status" || e.Message != want {
						t.Fatalf("%d %+v, want 409 %q", status, e, want)
					}
					if after := w.invoice(id); after.Status != st || len(after.History) != len(before.History) {
						t.Fatalf("a refused action changed the invoice")
					}
				}
			})
		}
	}
}

// TestAPIListShowAndErrors: the list filters by day and status; one
// invoice shows its lines, history, attempts and reconciliation ids;
// malformed input is a 400, unknown invoices and paths a 404.
func TestAPIListShowAndErrors(t *testing.T) {
	w := newWorld(t)
	w.use("op_acme", "pub_news", "news.example", "USD", 100_000, 100_000, 100_000)
	w.use("op_acme", "pub_blog", "blog.example", "USD", 50_000)
	w.use("op_bolt", "pub_news", "news.example", "USDC", 123)
	w.use("op_cask", "pub_news", "news.example", "USD", 250_000)
	w.close()
	w.drive(w.id("op_acme", "USD"), ledger.StatusPaid, ledger.Settlement{})
	w.drive(w.id("op_bolt", "USDC"), ledger.StatusPaid, ledger.Settlement{Rail: "evm", TxHash: "0xabc123", Block: 42, Charged: 123})

	status, body := w.call("GET", "/v1/invoices?day="+w.day, victorToken, nil)
	list := decode[wire.InvoiceList](t, body)
	if status != 200 || list.Day != w.day || len(list.Invoices) != 3 {
		t.Fatalf("%d %s", status, body)
	}
	// The default day is yesterday by the server's clock.
	_, body = w.call("GET", "/v1/invoices", victorToken, nil)
	if l := decode[wire.InvoiceList](t, body); l.Day != w.day || len(l.Invoices) != 3 {
		t.Fatalf("default day: %s", body)
	}
	_, body = w.call("GET", "/v1/invoices?day="+w.day+"&status=paid", victorToken, nil)
	if l := decode[wire.InvoiceList](t, body); len(l.Invoices) != 2 || l.Status != "paid" {
		t.Fatalf("paid: %s", body)
	}

	_, body = w.call("GET", "/v1/invoices/"+w.id("op_acme", "USD"), victorToken, nil)
	inv := decode[wire.Invoice](t, body)
	if inv.Total != "0.35" || inv.Amount != "0.35" || inv.Requests != 4 || len(inv.Lines) != 2 ||
		inv.Lines[1] != (wire.Line{N: 2, Publisher: "pub_news", Site: "news.example", Requests: 3, Amount: "0.30", Credit: "0.00", Net: "0.30"}) ||
		inv.PaymentIntent != "pi_test_op_acme" || inv.Rail != "stripe" || inv.Charged != "0.35" || inv.Check != "ok" ||
		len(inv.Attempts) != 2 || len(inv.History) < 4 || strings.Join(inv.Actions, ",") != "refund" || inv.Refundable != "0.35" {
		t.Fatalf("invoice: %s", body)
	}
	_, body = w.call("GET", "/v1/invoices/"+w.id("op_bolt", "USDC"), victorToken, nil)
	if coin := decode[wire.Invoice](t, body); coin.TxHash != "0xabc123" || coin.Block != 42 || coin.Total != "0.000123" {
		t.Fatalf("coin: %s", body)
	}
	_, body = w.call("GET", "/v1/invoices/"+w.id("op_cask", "USD"), victorToken, nil)
	if d := decode[wire.Invoice](t, body); strings.Join(d.Actions, ",") != "approve,hold,credit,void" {
		t.Fatalf("a draft's actions: %v", d.Actions)
	}

	id := w.id("op_cask", "USD")
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code, has          string
	}{
		{"bad day", "GET", "/v1/invoices?day=2026-13-01", nil, 400, "invalid_request", "want YYYY-MM-DD"},
		{"bad status", "GET", "/v1/invoices?status=lost", nil, 400, "invalid_request", "want one of"},
		{"bad summary day", "GET", "/v1/days/someday/summary", nil, 400, "invalid_request", "YYYY-MM-DD"},
		{"unknown invoice", "GET", "/v1/invoices/" + w.id("op_nobody", "USD"), nil, 404, "not_found", "no invoice"},
		{"malformed id", "GET", "/v1/invoices/inv_nope", nil, 404, "not_found", "no invoice inv_nope"},
		{"unknown invoice hold", "POST", "/v1/invoices/" + w.id("op_nobody", "USD") + "/hold", wire.ActionRequest{Reason: "x"}, 404, "not_found", "op_nobody"},
		{"unknown audit", "GET", "/v1/invoices/" + w.id("op_nobody", "USD") + "/audit", nil, 404, "not_found", ""},
		{"unknown endpoint", "GET", "/v1/nothing", nil, 404, "not_found", "no such endpoint"},
		{"hold without reason", "POST", "/v1/invoices/" + id + "/hold", wire.ActionRequest{}, 400, "invalid_request", "a reason is required to hold"},
		{"void without reason", "POST", "/v1/invoices/" + id + "/void", nil, 400, "invalid_request", "a reason is required to void"},
		{"unknown field", "POST", "/v1/invoices/" + id + "/hold", map[string]string{"why": "x"}, 400, "invalid_json", "unknown field"},
		{"credit bad amount", "POST", "/v1/invoices/" + id + "/lines/1/credit", wire.CreditRequest{Amount: "1,00", Reason: "x"}, 400, "invalid_request", "want a decimal amount"},
		{"credit negative", "POST", "/v1/invoices/" + id + "/lines/1/credit", wire.CreditRequest{Amount: "-0.01", Reason: "x"}, 400, "invalid_request", "decimal amount"},
		{"credit float precision", "POST", "/v1/invoices/" + id + "/lines/1/credit", wire.CreditRequest{Amount: "0.0000001", Reason: "x"}, 400, "invalid_request", "6 decimal places"},
		{"credit line 0", "POST", "/v1/invoices/" + id + "/lines/0/credit", wire.CreditRequest{Amount: "0.01", Reason: "x"}, 400, "invalid_request", "from 1"},
		{"credit no line 2", "POST", "/v1/invoices/" + id + "/lines/2/credit", wire.CreditRequest{Amount: "0.01", Reason: "x"}, 400, "invalid_request", "has 1 lines, no line 2"},
		{"credit above the line", "POST", "/v1/invoices/" + id + "/lines/1/credit", wire.CreditRequest{Amount: "0.250001", Reason: "x"}, 400, "invalid_request", "exceeds the line's amount 0.25"},
		{"credit without reason", "POST", "/v1/invoices/" + id + "/lines/1/credit", wire.CreditRequest{Amount: "0.01"}, 400, "invalid_request", "a reason is required"},
		{"credit without body", "POST", "/v1/invoices/" + id + "/lines/1/credit", nil, 400, "invalid_json", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := w.call(tt.method, tt.path, aliceToken, tt.body)
			e := decode[apiError](t, body)
			if status != tt.status || e.Code != tt.code || !strings.Contains(e.Message, tt.has) {
				t.Fatalf("%d %+v, want %d %s mentioning %q", status, e, tt.status, tt.code, tt.has)
			}
		})
	}
	if inv := w.invoice(id); inv.Status != ledger.StatusDraft || inv.Total != 250_000 {
		t.Fatalf("bad requests changed the invoice: %+v", inv)
	}
}

// TestAPIRefusesWhileTheSettlerRuns: while a settlement run holds the
// settler lock, an action answers 423 settler_busy at once, changing
// nothing; reads still work.
func TestAPIRefusesWhileTheSettlerRuns(t *testing.T) {
	w := newWorld(t)
	w.use("op_acme", "pub_news", "news.example", "USD", 100_000)
	w.close()
	id := w.id("op_acme", "USD")
	_, release, err := w.l.AcquireLock(w.ctx, settle.LockName, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	status, body := w.call("POST", "/v1/invoices/"+id+"/hold", aliceToken, wire.ActionRequest{Reason: "check"})
	e := decode[apiError](t, body)
	if status != http.StatusLocked || e.Code != "settler_busy" || e.Message != "the settler is charging right now, try again in a minute" {
		t.Fatalf("%d %s", status, body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the refusal took %s", d)
	}
	if status, _ := w.call("GET", "/v1/invoices/"+id, victorToken, nil); status != 200 {
		t.Fatalf("read during a run: %d", status)
	}
	release()
	if status, body := w.call("POST", "/v1/invoices/"+id+"/hold", aliceToken, wire.ActionRequest{Reason: "check"}); status != 200 {
		t.Fatalf("after the run: %d %s", status, body)
	}
}

// TestAPIDaySummary: counts and totals by status and by rail, per
// currency, with credits and carried amounts.
func TestAPIDaySummary(t *testing.T) {
	w := newWorld(t)
	w.use("op_acme", "pub_news", "news.example", "USD", 100_000, 200_000)
	w.use("op_bolt", "pub_news", "news.example", "USDC", 500_000)
	w.use("op_cask", "pub_blog", "blog.example", "USD", 3_000)
	w.close()
	w.drive(w.id("op_acme", "USD"), ledger.StatusPaid, ledger.Settlement{})
	w.drive(w.id("op_bolt", "USDC"), ledger.StatusPaid, ledger.Settlement{Rail: "evm", TxHash: "0xfeed", Block: 7, Charged: 500_000})
	w.drive(w.id("op_cask", "USD"), ledger.StatusCarried, ledger.Settlement{})
	status, body := w.call("GET", "/v1/days/"+w.day+"/summary", victorToken, nil)
	s := decode[wire.Summary](t, body)
	if status != 200 || s.Invoices != 3 || s.Requests != 4 || s.Totals["USD"] != "0.303" || s.Totals["USDC"] != "0.50" ||
		s.Charged["USD"] != "0.30" || s.CarriedOut["USD"] != "0.003" || s.Charged["USDC"] != "0.50" {
		t.Fatalf("%d %s", status, body)
	}
	wantStatus := []wire.Bucket{
		{Key: "paid", Currency: "USD", Invoices: 1, Total: "0.30", Charged: "0.30"},
		{Key: "paid", Currency: "USDC", Invoices: 1, Total: "0.50", Charged: "0.50"},
		{Key: "carried", Currency: "USD", Invoices: 1, Total: "0.003", Charged: "0.00"},
	}
	wantRail := []wire.Bucket{
		{Key: "evm", Currency: "USDC", Invoices: 1, Total: "0.50", Charged: "0.50"},
		{Key: "stripe", Currency: "USD", Invoices: 2, Total: "0.303", Charged: "0.30"},
	}
	if fmt.Sprint(s.ByStatus) != fmt.Sprint(wantStatus) || fmt.Sprint(s.ByRail) != fmt.Sprint(wantRail) {
		t.Fatalf("by status %+v\nby rail %+v", s.ByStatus, s.ByRail)
	}
	// An empty day is a summary of nothing, not an error.
	_, body = w.call("GET", "/v1/days/2020-01-01/summary", victorToken, nil)
	if e := decode[wire.Summary](t, body); e.Invoices != 0 || e.ByStatus == nil {
		t.Fatalf("empty day: %s", body)
	}
}
