package settle_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// TestEVMResumedInvoicesNeverShareANonce: a run whose broadcasts never
// happen (the node unreachable for all but the last, which is a crash)
// leaves invoices charging with write-ahead records (a later allocation may
// send an earlier record to fill its nonce, as the rail does); the restarted
// settler resumes them side by side (four workers) and charges those the
// crash left approved. Each write-ahead record holds a nonce of its own, so
// every invoice is paid by its first attempt, exactly once.
func TestEVMResumedInvoicesNeverShareANonce(t *testing.T) {
	e := newEnv(t, rails{evm: true})
	wallets := map[string]money.Micros{}
	accounts := usage(e, 6, func(a string) {
		_, w := e.evmPayer(a, 20_000_000, 20_000_000)
		wallets[w.Hex()] = 20_000_000
	}, "USDC")
	var broadcasts atomic.Int32
	lost := func(p string) error {
		if p != settle.FaultBeforeBroadcast {
			return nil
		}
		if broadcasts.Add(1) == int32(len(accounts)) {
			return fmt.Errorf("%w at %s", settle.ErrInjected, p)
		}
		return errors.New("the node is unreachable")
	}
	if _, err := e.settler(hooks{evm: lost}).RunOnce(e.ctx); err == nil {
		t.Fatal("the run without broadcasts succeeded")
	}
	recorded := 0
	for _, inv := range e.invoices(e.day(0)) {
		if inv.Status == ledger.StatusCharging && inv.RawTx != "" {
			recorded++
		}
	}
	if recorded < 2 {
		t.Fatalf("%d write-ahead records left charging, want several", recorded)
	}
	mustRun(t, e.settler(hooks{}), e.ctx)
	var sum money.Micros
	for _, a := range accounts {
		inv := e.invoice(ledger.InvoiceID(a, e.day(0), "USDC"))
		if inv.Status != ledger.StatusPaid || attemptsOf(inv) != 1 {
			t.Errorf("%s: %s, %d attempts (%s)", inv.ID, inv.Status, attemptsOf(inv), inv.Error)
		}
		p, _ := e.payers.Payer(e.ctx, a)
		wallets[p.Wallet] -= inv.Total
		sum += inv.Total
	}
	e.assertChainOnce(wallets, sum, uint64(len(accounts)))
}
