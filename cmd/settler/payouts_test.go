package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// payouts runs `settler payouts …` with the API's URL and token in the
// environment, as a finance person would.
func (w *world) payouts(token string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	vars := map[string]string{envSettlerURL: "http://" + w.listen, envFinanceToken: token}
	err := runCLI(w.ctx, append([]string{"payouts"}, args...), &out, &errOut, env(vars))
	return out.String(), err
}

// TestPayoutsCommands: hold, release and cancel go through the finance API,
// so the payout's history names the token's person (there is no --actor to
// claim another); a viewer's token, a missing reason or an action the
// status forbids is refused with the server's words; list and show read
// the ledger of -config.
func TestPayoutsCommands(t *testing.T) {
	w := newWorld(t)
	cfg := w.financeConfig()
	if _, err := w.cli("close", "-config", cfg, "--day", w.day); err != nil {
		t.Fatal(err)
	}
	id := ledger.InvoiceID(w.card, w.day, "USD")
	for _, to := range []ledger.Status{ledger.StatusApproved, ledger.StatusCharging, ledger.StatusPaid} {
		set := ledger.Settlement{}
		if to == ledger.StatusPaid {
			set = ledger.Settlement{Rail: "stripe", PaymentIntent: "pi_test", Charged: 1_500_000, CarriedOut: 2_345}
		}
		if err := w.l.Transition(w.ctx, id, ledger.Transition{To: to, Token: 1, Actor: "test", Set: set}); err != nil {
			t.Fatalf("%s: %v", to, err)
		}
	}
	book, err := earnings.New(earnings.Options{Redis: w.rdb, Ledger: w.l, Prefix: ledger.DefaultPrefix + ":earn", Fees: earnings.FixedFee(0)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := book.RecordInvoice(w.ctx, id); err != nil {
		t.Fatal(err)
	}
	po, _, err := book.CreatePayout(w.ctx, earnings.PayoutSpec{Period: "2026-W49", Publisher: "pub", Currency: "USD",
		Amount: money.Scale, Rail: "stripe", Destination: "acct_pub", Reason: "test"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.serve(cfg)

	if out, err := w.payouts(financeToken, "hold", po.ID, "--reason", "statement disputed"); err != nil ||
		!strings.Contains(out, "is held") || !strings.Contains(out, "alice  statement disputed") {
		t.Fatalf("hold: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		token string
		args  []string
		want  string
	}{
		{viewerToken, []string{"release", po.ID, "--reason", "r"}, "(forbidden"},
		{financeToken, []string{"release", po.ID}, "--reason is required"},
		{financeToken, []string{"release", po.ID, "--actor", "mallory", "--reason", "r"}, "flag provided but not defined: -actor"},
		{financeToken, []string{"hold", po.ID, "other", "--reason", "r"}, "want one payout id"},
		{"", []string{"hold", po.ID, "--reason", "r"}, "a finance token is required"},
		{financeToken, []string{"hold", "po_2026-W49_nobody_USD", "--reason", "r"}, "(not_found"},
	} {
		if _, err := w.payouts(tc.token, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("payouts %v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	out, err := w.payouts(financeToken, "release", po.ID, "--json", "--reason", "settled with the publisher")
	var res wire.PayoutActionResult
	if err == nil {
		err = json.Unmarshal([]byte(out), &res)
	}
	if err != nil || !res.Changed || res.Payout.Status != string(earnings.PayoutPending) {
		t.Fatalf("release --json: %v\n%s", err, out)
	}
	if _, err := w.payouts(financeToken, "cancel", po.ID, "--reason", "publisher closed"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.payouts(financeToken, "release", po.ID, "--reason", "r"); err == nil || !strings.Contains(err.Error(), "cannot release") {
		t.Fatalf("release of a canceled payout: %v", err)
	}
	out, err = w.cli("payouts", "show", po.ID, "-config", cfg)
	if err != nil || strings.Count(out, "alice") != 3 || !strings.Contains(out, "canceled") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if out, err := w.cli("payouts", "list", "-config", cfg); err != nil || !strings.Contains(out, po.ID) {
		t.Fatalf("list: %v\n%s", err, out)
	}
}
