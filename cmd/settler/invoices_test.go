package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// Finance tokens of the CLI tests.
const (
	financeToken = "fin_cli_alice_0123456789abcdef0123456789"
	viewerToken  = "fin_cli_victor_0123456789abcdef012345678"
)

func tokenHash(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// financeConfig is the world's configuration with finance tokens.
func (w *world) financeConfig() string {
	return w.config(fmt.Sprintf(`finance:
  session_secret: a session secret for the command line tests
  tokens:
    - {name: alice, role: finance, token_sha256: %s}
    - {name: victor, role: viewer, token_sha256: %s}
`, tokenHash(financeToken), tokenHash(viewerToken)))
}

// serve runs `settler serve` until the test ends and waits until it
// answers.
func (w *world) serve(cfg string) {
	w.t.Helper()
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	go func() {
		var out, errOut bytes.Buffer
		err := runCLI(ctx, []string{"serve", "-config", cfg}, &out, &errOut, env(nil))
		if err != nil {
			err = fmt.Errorf("%w: %s", err, errOut.String())
		}
		done <- err
	}()
	w.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				w.t.Errorf("settler serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			w.t.Errorf("settler serve did not stop")
		}
	})
	waitFor(w.t, 15*time.Second, "settler serve", func() bool {
		resp, err := noRedirect.Get("http://" + w.listen + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// inv runs `settler invoices …` with the API's URL and token in the
// environment, as a finance person would.
func (w *world) inv(token string, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	vars := map[string]string{envSettlerURL: "http://" + w.listen, envFinanceToken: token}
	err := runCLI(w.ctx, append([]string{"invoices"}, args...), &out, &errOut, env(vars))
	return out.String(), errOut.String(), err
}

// TestInvoicesCommands drives `settler serve` and every `settler invoices`
// subcommand against it: human tables, --json, actions with the token's
// name as actor, refusals with the server's message, exports and audit.
func TestInvoicesCommands(t *testing.T) {
	w := newWorld(t)
	cfg := w.financeConfig()
	if _, err := w.cli("close", "-config", cfg, "--day", w.day); err != nil {
		t.Fatal(err)
	}
	w.serve(cfg)
	card := ledger.InvoiceID(w.card, w.day, "USD")

	out, _, err := w.inv(viewerToken, "list", "--day", w.day, "--json")
	var list wire.InvoiceList
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Invoices) != 2 || list.Day != w.day ||
		list.Invoices[0].OperatorContact == "" || list.Invoices[0].OperatorName == "" {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	out, _, err = w.inv(viewerToken, "list", "--day", w.day)
	if err != nil || !strings.Contains(out, "INVOICE") || !strings.Contains(out, card) ||
		!strings.Contains(out, "2 invoices on "+w.day+"; billed 1.502345 USD, 2.50 USDC") ||
		!strings.Contains(out, "card <ops@card.example> "+w.card) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, _, err = w.inv(viewerToken, "queue")
	if err != nil || !strings.Contains(out, card) || !strings.Contains(out, "card <ops@card.example>") || !strings.Contains(out, "need a person") {
		t.Fatalf("queue: %v\n%s", err, out)
	}
	out, _, err = w.inv(viewerToken, "show", card)
	if err != nil || !strings.Contains(out, "PUBLISHER") || !strings.Contains(out, "a.example") || !strings.Contains(out, "day check") ||
		!strings.Contains(out, "approve, hold, credit, void") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	out, _, err = w.inv(viewerToken, "summary", "--day", w.day)
	if err != nil || !strings.Contains(out, "2 invoices, 4 paid requests") || !strings.Contains(out, "draft") {
		t.Fatalf("summary: %v\n%s", err, out)
	}

	// Actions, flags before or after the id.
	steps := []struct {
		args []string
		has  string
	}{
		{[]string{"hold", card, "--reason", "publisher dispute"}, "is held"},
		{[]string{"--reason", "publisher dispute", "hold", card}, ""}, // the subcommand comes first
		{[]string{"hold", "--reason", "again", card}, "already held; nothing changed"},
		{[]string{"credit", card, "--line", "1", "--amount", "0.000345", "--reason", "duplicate fetches"}, "total USD 1.502"},
		{[]string{"release", card}, "is draft"},
		{[]string{"approve", card, "--reason", "reviewed"}, "is approved"},
	}
	for _, st := range steps {
		out, _, err := w.inv(financeToken, st.args...)
		if st.has == "" {
			if err == nil {
				t.Fatalf("%v: accepted", st.args)
			}
			continue
		}
		if err != nil || !strings.Contains(out, st.has) {
			t.Fatalf("%v: %v\n%s", st.args, err, out)
		}
	}
	inv, err := w.l.Invoice(w.ctx, card)
	if err != nil || inv.Status != ledger.StatusApproved || inv.Total != 1_502_000 || inv.History[len(inv.History)-1].Actor != "alice" {
		t.Fatalf("invoice %+v, %v", inv, err)
	}

	refusals := []struct {
		token string
		args  []string
		has   string
	}{
		{financeToken, []string{"credit", card, "--line", "1", "--amount", "0.01", "--reason", "x"}, "invoice " + card + " is approved: cannot credit a line (wrong_status"},
		{viewerToken, []string{"void", card, "--reason", "x"}, "viewer role"},
		{"fin_wrong", []string{"list"}, "bearer token is required (Authorization: Bearer …) (unauthorized"},
		{"", []string{"list"}, "a finance token is required"},
		{financeToken, []string{"hold", card}, "--reason is required"},
		{financeToken, []string{"void"}, "want one invoice id"},
		{financeToken, []string{"hold", card, "--reason", "x", "--line", "2"}, "--line does not apply"},
		{financeToken, []string{"credit", card, "--amount", "1", "--reason", "x"}, "--line is required"},
		{financeToken, []string{"show", "inv_nope"}, "no invoice inv_nope"},
		{financeToken, []string{"list", "--day", "someday"}, "want YYYY-MM-DD"},
		{financeToken, []string{"export"}, "give --day D"},
		{financeToken, []string{"explode"}, "unknown subcommand"},
		{financeToken, nil, "a subcommand is required"},
	}
	for _, r := range refusals {
		_, _, err := w.inv(r.token, r.args...)
		if err == nil || !strings.Contains(err.Error(), r.has) {
			t.Errorf("%v: error %v, want it to mention %q", r.args, err, r.has)
		}
	}

	// Exports: the day's invoices to a file, an invoice's commitments to
	// standard output.
	file := filepath.Join(t.TempDir(), "day.csv")
	if _, errOut, err := w.inv(viewerToken, "export", "--day", w.day, "--out", file); err != nil || !strings.Contains(errOut, "wrote") {
		t.Fatalf("export --day: %v %s", err, errOut)
	}
	if b, _ := os.ReadFile(file); strings.Count(string(b), "\n") != 3 || !strings.Contains(string(b), card+","+w.day) {
		t.Fatalf("day CSV:\n%s", b)
	}
	out, _, err = w.inv(viewerToken, "export", card)
	if err != nil || strings.Count(out, "\n") != 3 || !strings.HasPrefix(out, "commitment,received,") {
		t.Fatalf("export id: %v\n%s", err, out)
	}

	// The world's commitments carry no signature: the audit says so for
	// each, and exits with an error.
	out, _, err = w.inv(viewerToken, "audit", card)
	if err == nil || !strings.Contains(err.Error(), "2 of 2 commitments failed; sums add up") ||
		strings.Count(out, "FAILED") != 2 || !strings.Contains(out, "no signature recorded") || !strings.Contains(out, "PROBLEMS FOUND") {
		t.Fatalf("audit: %v\n%s", err, out)
	}
	out, _, _ = w.inv(viewerToken, "audit", card, "--json")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.Contains(lines[2], `"type":"summary"`) {
		t.Fatalf("audit --json:\n%s", out)
	}

	// The actions are counted in /metrics.
	resp, err := noRedirect.Get("http://" + w.listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `paycrawl_finance_actions_total{action="hold",result="changed"} 1`) ||
		!strings.Contains(string(b), `paycrawl_finance_actions_total{action="credit",result="refused"} 1`) {
		t.Fatalf("metrics:\n%s", b)
	}
	if out, err := w.cli("invoices", "help"); err != nil || !strings.Contains(out, "credit ID --line N --amount 0.01 --reason R") {
		t.Fatalf("help: %v\n%s", err, out)
	}
}

// TestServeRefusesABadSetup: a taken port or an invalid finance section
// fails `settler serve` at once with the reason.
func TestServeRefusesABadSetup(t *testing.T) {
	w := newWorld(t)
	w.serve(w.financeConfig())
	if _, err := w.cli("serve", "-config", w.financeConfig()); err == nil || !strings.Contains(err.Error(), "listen "+w.listen) {
		t.Fatalf("a taken port: %v", err)
	}
	bad := w.config("finance:\n  tokens:\n    - {name: alice, role: admin, token_sha256: " + tokenHash("x") + "}\n")
	if _, err := w.cli("serve", "-config", bad); err == nil || !strings.Contains(err.Error(), "role") {
		t.Fatalf("a bad role: %v", err)
	}
}

// TestInvoicesRefund: `settler invoices refund` refunds part of a paid
// card invoice on stripe-mock, then the rest; show lists the refunds in the
// history; the refusals carry the server's message and code.
func TestInvoicesRefund(t *testing.T) {
	w := newWorld(t)
	cfg := w.financeConfig()
	if _, err := w.cli("close", "-config", cfg, "--day", w.day); err != nil {
		t.Fatal(err)
	}
	_, _ = w.cli("charge", "-config", cfg, "--day", w.day) // the coin invoice has no rail here: its error is not this test's
	card := ledger.InvoiceID(w.card, w.day, "USD")
	if inv := w.invoice(w.card, "USD"); inv.Status != ledger.StatusPaid || inv.Charged != 1_500_000 {
		t.Fatalf("card invoice %s charged %s", inv.Status, inv.Charged)
	}
	w.serve(cfg)
	refusals := []struct {
		token string
		args  []string
		has   string
	}{
		{financeToken, []string{"refund", card, "--amount", "0.50"}, "--reason is required"},
		{viewerToken, []string{"refund", card, "--reason", "x"}, "viewer role"},
		{financeToken, []string{"refund", card, "--amount", "1.51", "--reason", "x"}, "above the 1.50 USD left to refund (refund_exceeds"},
		{financeToken, []string{"refund", card, "--amount", "lots", "--reason", "x"}, "want a decimal amount"},
		{financeToken, []string{"refund", card, "--line", "1", "--reason", "x"}, "--line does not apply"},
	}
	for _, r := range refusals {
		if _, _, err := w.inv(r.token, r.args...); err == nil || !strings.Contains(err.Error(), r.has) {
			t.Errorf("%v: error %v, want it to mention %q", r.args, err, r.has)
		}
	}
	out, _, err := w.inv(financeToken, "refund", card, "--amount", "0.50", "--reason", "duplicate fetches")
	if err != nil || !strings.Contains(out, "Refunded 0.50 USD of "+card) {
		t.Fatalf("refund: %v\n%s", err, out)
	}
	out, _, err = w.inv(financeToken, "refund", card, "--reason", "the rest", "--json")
	var res wire.ActionResult
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Invoice.RefundState != "refunded" || res.Invoice.Refunded != "1.50" {
		t.Fatalf("refund the rest: %v\n%s", err, out)
	}
	out, _, err = w.inv(viewerToken, "show", card)
	if err != nil || !strings.Contains(out, "refund 1: 0.50 done (re_") || !strings.Contains(out, "refund 2: 1.00 done") ||
		!strings.Contains(out, "USD 1.50 (refunded); USD 0.00 left to refund") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if n := len(w.proxy.Refunds()); n != 2 {
		t.Fatalf("Stripe saw %d refunds", n)
	}
}
