package settle_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/stripe"
)

// faultCase crashes a settler run at one point of charging.
type faultCase struct {
	point string
	// lose drops the pending transactions from the chain at the crash, as a
	// node that lost the broadcast would.
	lose bool
}

// hooksFor routes a crash hook to the settler or the rail that owns point.
func hooksFor(point string, hook func(string) error) hooks {
	switch point {
	case settle.FaultAfterCharging, settle.FaultBeforeOutcome:
		return hooks{settler: hook}
	case settle.FaultBeforeStripeCall, settle.FaultAfterStripeCall:
		return hooks{stripe: hook}
	}
	return hooks{evm: hook}
}

// TestStripeFaults crashes a run at every step of a Stripe charge; after a
// restart (a new Settler on the same Redis and Stripe) every invoice is paid
// exactly once: one succeeded PaymentIntent each, every request of an
// invoice under its one key, one attempt.
func TestStripeFaults(t *testing.T) {
	for _, fc := range []faultCase{
		{point: settle.FaultAfterCharging},
		{point: settle.FaultBeforeStripeCall},
		{point: settle.FaultAfterStripeCall},
		{point: settle.FaultBeforeOutcome},
	} {
		t.Run(fc.point, func(t *testing.T) {
			e := newEnv(t, rails{stripe: true})
			e.cfg.Workers = 1 // a crash stops one charge mid-way, none in flight beside it
			accounts := usage(e, 4, func(a string) { e.stripePayer(a, "pm_card_visa") }, "USD")
			hook, fired := crashAt(fc.point)
			crashRun(t, e, fc, hook, fired)
			mustRun(t, e.settler(hooks{}), e.ctx)
			replayed := 0
			for _, a := range accounts {
				inv := e.invoice(ledger.InvoiceID(a, e.day(0), "USD"))
				e.assertStripeOnce(inv)
				if attemptsOf(inv) != 1 {
					t.Errorf("%s: %d attempts, want 1", inv.ID, attemptsOf(inv))
				}
				if e.proxy.Requests(stripe.IdempotencyKey(inv.ID, 1)) == 2 {
					replayed++
				}
			}
			// Crashing after Stripe answered makes the restart send the same
			// request again, and Stripe replays its answer.
			wantReplays := 0
			if fc.point == settle.FaultAfterStripeCall || fc.point == settle.FaultBeforeOutcome {
				wantReplays = 1
			}
			if replayed != wantReplays {
				t.Errorf("%d keys were sent twice, want %d", replayed, wantReplays)
			}
		})
	}
}

// TestEVMFaults crashes a run at every step of a stablecoin charge; after a
// restart every invoice is paid by exactly one transfer: the wallets, the
// treasury and the settler's nonce prove it.
func TestEVMFaults(t *testing.T) {
	for _, fc := range []faultCase{
		{point: settle.FaultAfterCharging},
		{point: settle.FaultBeforeWriteAhead},
		{point: settle.FaultBeforeBroadcast},
		{point: settle.FaultAfterBroadcast},
		{point: settle.FaultAfterBroadcast, lose: true},
		{point: settle.FaultConfirming},
		{point: settle.FaultBeforeOutcome},
	} {
		name := fc.point
		if fc.lose {
			name += "+lost"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, rails{evm: true})
			e.cfg.Workers = 1
			wallets := map[string]money.Micros{}
			var amounts []money.Micros
			accounts := usage(e, 3, func(a string) {
				_, w := e.evmPayer(a, 20_000_000, 20_000_000)
				wallets[w.Hex()] = 20_000_000
			}, "USDC")
			var sum money.Micros
			for _, a := range accounts {
				inv := e.invoice(ledger.InvoiceID(a, e.day(0), "USDC"))
				amounts = append(amounts, inv.Total)
				sum += inv.Total
			}
			hook, fired := crashAt(fc.point)
			if fc.lose {
				inner := hook
				hook = func(p string) error {
					err := inner(p)
					if err != nil {
						e.chain.Pause()
						e.chain.Rollback()
					}
					return err
				}
			}
			crashRun(t, e, fc, hook, fired)
			e.chain.Resume()
			mustRun(t, e.settler(hooks{}), e.ctx)
			for i, a := range accounts {
				inv := e.invoice(ledger.InvoiceID(a, e.day(0), "USDC"))
				if inv.Status != ledger.StatusPaid || inv.Charged != amounts[i] || attemptsOf(inv) != 1 {
					t.Errorf("%s: %s charged %s, %d attempts (%s)", inv.ID, inv.Status, inv.Charged, attemptsOf(inv), inv.Error)
				}
				p, _ := e.payers.Payer(e.ctx, a)
				wallets[p.Wallet] -= amounts[i]
			}
			e.assertChainOnce(wallets, sum, uint64(len(accounts)))
		})
	}
}

// TestCrashAtEveryStepInTurn crashes run after run, each at the next step,
// before a run finally completes: still one charge per invoice.
func TestCrashAtEveryStepInTurn(t *testing.T) {
	e := newEnv(t, rails{stripe: true, evm: true})
	e.cfg.Workers = 1
	usd := usage(e, 2, func(a string) { e.stripePayer(a, "pm_card_visa") }, "USD")
	wallets := map[string]money.Micros{}
	usdc := usage(e, 2, func(a string) {
		_, w := e.evmPayer(a, 20_000_000, 20_000_000)
		wallets[w.Hex()] = 20_000_000
	}, "USDC")
	for _, p := range []string{
		settle.FaultAfterCharging, settle.FaultBeforeStripeCall, settle.FaultAfterStripeCall, settle.FaultBeforeOutcome,
		settle.FaultBeforeWriteAhead, settle.FaultBeforeBroadcast, settle.FaultAfterBroadcast, settle.FaultConfirming,
	} {
		hook, _ := crashAt(p)
		if _, err := e.settler(hooksFor(p, hook)).RunOnce(e.ctx); err != nil && !errors.Is(err, settle.ErrInjected) {
			t.Fatalf("run crashing at %s: %v", p, err)
		}
	}
	mustRun(t, e.settler(hooks{}), e.ctx)
	for _, a := range usd {
		e.assertStripeOnce(e.invoice(ledger.InvoiceID(a, e.day(0), "USD")))
	}
	var sum money.Micros
	for _, a := range usdc {
		inv := e.invoice(ledger.InvoiceID(a, e.day(0), "USDC"))
		if inv.Status != ledger.StatusPaid {
			t.Fatalf("%s is %s (%s)", inv.ID, inv.Status, inv.Error)
		}
		p, _ := e.payers.Payer(e.ctx, a)
		wallets[p.Wallet] -= inv.Total
		sum += inv.Total
	}
	e.assertChainOnce(wallets, sum, uint64(len(usdc)))
}

// usage registers n crawlers with register and gives each a day of usage in
// cur (different amounts, above Stripe's minimum), closes the day and
// returns the accounts.
func usage(e *env, n int, register func(account string), cur string) []string {
	e.t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		a := fmt.Sprintf("op_%s_%d", cur, i)
		register(a)
		e.use(a, 0, "pub-1", "a.example", cur, money.Micros(600_000+i*111_111), 250_001)
		e.use(a, 0, "pub-2", "b.example", cur, 10_000)
		out = append(out, a)
	}
	e.clock.Set(e.closeTime(0))
	if _, err := e.settler(hooks{}).Close(e.ctx, e.day(0)); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// crashRun runs a settler whose hook crashes at fc.point and checks that it
// crashed there, leaving an invoice charging.
func crashRun(t *testing.T, e *env, fc faultCase, hook func(string) error, fired interface{ Load() int32 }) {
	t.Helper()
	_, err := e.settler(hooksFor(fc.point, hook)).RunOnce(e.ctx)
	if !errors.Is(err, settle.ErrInjected) || fired.Load() != 1 {
		t.Fatalf("crash run: fired %d, err %v", fired.Load(), err)
	}
	charging := 0
	for _, inv := range e.invoices(e.day(0)) {
		if inv.Status == ledger.StatusCharging {
			charging++
		}
	}
	if charging != 1 {
		t.Fatalf("%d invoices charging after the crash, want 1", charging)
	}
}
