package finance_test

import (
	"encoding/csv"
	"net/http"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// csvRows fetches a CSV export through the API.
func (w *world) csvRows(path string) (*http.Response, [][]string) {
	w.t.Helper()
	req, _ := http.NewRequestWithContext(w.ctx, "GET", w.ts.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+victorToken)
	resp, err := w.ts.Client().Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		w.t.Fatalf("%s: %d", path, resp.StatusCode)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		w.t.Fatal(err)
	}
	return resp, rows
}

// TestCSVExports: a day's invoices, one row each with exact decimal
// amounts and reconciliation ids; an invoice's commitments, in its
// currency only, each on its line, with what re-verifies it; cells a
// spreadsheet would run as formulas are defused.
func TestCSVExports(t *testing.T) {
	w := newWorld(t)
	w.use("op_acme", "pub_news", "news.example", "USD", 100_000, 200_000)
	w.use("op_acme", "pub_blog", "blog.example", "USD", 1)
	w.use("op_acme", "pub_news", "news.example", "EUR", 5_000)
	w.use("op_bolt", "pub_news", "news.example", "USDC", 123)
	w.close()
	w.drive(w.id("op_bolt", "USDC"), ledger.StatusPaid, ledger.Settlement{Rail: "evm", TxHash: "0xbeef", Block: 9, Charged: 123})
	w.tamper("op_acme", 1, func(rec map[string]any) { rec["path"] = "=HYPERLINK(\"http://evil.example\")" })

	resp, rows := w.csvRows("/v1/days/" + w.day + "/invoices.csv")
	if resp.Header.Get("Content-Disposition") != `attachment; filename="invoices-`+w.day+`.csv"` || len(rows) != 4 {
		t.Fatalf("%v %v", resp.Header, rows)
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	byID := map[string][]string{}
	for _, r := range rows[1:] {
		byID[r[col["invoice"]]] = r
	}
	acme, bolt := byID[w.id("op_acme", "USD")], byID[w.id("op_bolt", "USDC")]
	if acme == nil || acme[col["total"]] != "0.300001" || acme[col["requests"]] != "3" || acme[col["lines"]] != "2" || acme[col["status"]] != "draft" {
		t.Fatalf("acme row %v", acme)
	}
	if bolt == nil || bolt[col["tx_hash"]] != "0xbeef" || bolt[col["block"]] != "9" || bolt[col["charged"]] != "0.000123" || bolt[col["rail"]] != "evm" {
		t.Fatalf("bolt row %v", bolt)
	}
	_, rows = w.csvRows("/v1/days/" + w.day + "/invoices.csv?status=paid")
	if len(rows) != 2 {
		t.Fatalf("paid only: %v", rows)
	}

	resp, rows = w.csvRows("/v1/invoices/" + w.id("op_acme", "USD") + "/commitments.csv")
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || len(rows) != 4 {
		t.Fatalf("commitments: %v", rows)
	}
	col = map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	var sum int
	for _, r := range rows[1:] {
		if r[col["currency"]] != "USD" || r[col["key_id"]] != w.signer.kid || r[col["signature"]] == "" || r[col["signature_input"]] == "" {
			t.Errorf("row %v", r)
		}
		switch r[col["line"]] {
		case "1":
			sum += 1 // blog
		case "2":
			sum += 10
		}
	}
	if sum != 21 {
		t.Errorf("rows are not on their lines: %v", rows)
	}
	if got := rows[2][col["path"]]; got != `'=HYPERLINK("http://evil.example")` {
		t.Errorf("formula not defused: %q", got)
	}
}
