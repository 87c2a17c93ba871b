package settle_test

import (
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle/evm"
)

// TestEVMChargesADay: each crawler's day is pulled from its wallet to the
// treasury once; the invoice shows the rail, the transaction hash and block,
// and its attempt (started, signed, confirmed).
func TestEVMChargesADay(t *testing.T) {
	e := newEnv(t, rails{evm: true})
	amounts := map[string]money.Micros{"op_w1": 1_234_567, "op_w2": 10_000, "op_w3": 3_000_000}
	wallets := map[string]money.Micros{}
	for account, amount := range amounts {
		_, w := e.evmPayer(account, 5_000_000, 5_000_000)
		wallets[w.Hex()] = 5_000_000 - amount
		e.use(account, 0, "pub", "a.example", "USDC", amount)
	}
	e.clock.Set(e.closeTime(0))
	mustRun(t, e.settler(hooks{}), e.ctx)
	var sum money.Micros
	for account, amount := range amounts {
		inv := e.invoice(ledger.InvoiceID(account, e.day(0), "USDC"))
		var outcomes []string
		for _, a := range inv.Attempts {
			outcomes = append(outcomes, a.Outcome)
		}
		if inv.Status != ledger.StatusPaid || inv.Rail != evm.Name || inv.Charged != amount || inv.TxHash == "" || inv.Block == 0 ||
			inv.WriteAhead != 1 || inv.RawTx == "" || strings.Join(outcomes, ",") != "started,signed,confirmed" {
			t.Errorf("%s: %s rail %s charged %s tx %s block %d attempts %v", inv.ID, inv.Status, inv.Rail, inv.Charged, inv.TxHash, inv.Block, outcomes)
		}
		sum += amount
	}
	e.assertChainOnce(wallets, sum, 3)
}

// assertChainOnce proves the transfers happened exactly once: each wallet
// holds exactly what it should, the treasury holds the sum, and the settler
// sent exactly transfers transactions.
func (e *env) assertChainOnce(wallets map[string]money.Micros, treasury money.Micros, transfers uint64) {
	e.t.Helper()
	for w, want := range wallets {
		if got := e.balance(commonAddress(w)); got != want {
			e.t.Errorf("wallet %s holds %s, want %s", w, got, want)
		}
	}
	if got := e.balance(e.treasury); got != treasury {
		e.t.Errorf("treasury holds %s, want %s", got, treasury)
	}
	if got := e.settlerNonce(); got != transfers {
		e.t.Errorf("the settler sent %d transactions, want %d", got, transfers)
	}
}

// TestEVMTooLittleAllowance: a wallet that approved too little fails with a
// reason that says what to approve to whom; nothing moves and no
// transaction is sent. Once it approves enough, the retry pulls it once.
func TestEVMTooLittleAllowance(t *testing.T) {
	e := newEnv(t, rails{evm: true})
	key, wallet := e.evmPayer("op_stingy", 5_000_000, 500_000)
	e.use("op_stingy", 0, "pub", "a.example", "USDC", 1_230_000)
	e.clock.Set(e.closeTime(0))
	mustRun(t, e.settler(hooks{}), e.ctx)
	id := ledger.InvoiceID("op_stingy", e.day(0), "USDC")
	inv := e.invoice(id)
	want := "allowance 0.50 USDC < 1.23 USDC: approve the settler " + e.settlerAddr.Hex() + " on token " + e.token.Hex()
	if inv.Status != ledger.StatusFailed || !strings.HasPrefix(inv.Error, want) || inv.TxHash != "" {
		t.Fatalf("invoice %s error %q", inv.Status, inv.Error)
	}
	e.assertChainOnce(map[string]money.Micros{wallet.Hex(): 5_000_000}, 0, 0)

	approve(t, e, key, 2_000_000)
	e.clock.Advance(time.Hour)
	mustRun(t, e.settler(hooks{}), e.ctx)
	if inv := e.invoice(id); inv.Status != ledger.StatusPaid || attemptsOf(inv) != 2 {
		t.Fatalf("after the retry: %s, %d attempts", inv.Status, attemptsOf(inv))
	}
	e.assertChainOnce(map[string]money.Micros{wallet.Hex(): 5_000_000 - 1_230_000}, 1_230_000, 1)
}
