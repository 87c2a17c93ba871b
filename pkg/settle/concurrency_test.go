package settle_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// TestTwoSettlersAtOnce runs two settlers (two replicas) at the same time on
// the same Redis, Stripe and chain, day after day: each invoice is charged
// once. The lock lets one act at a time; the other gets ledger.ErrLocked and
// tries again.
func TestTwoSettlersAtOnce(t *testing.T) {
	e := newEnv(t, rails{stripe: true, evm: true})
	stripeAccounts := []string{"op_s1", "op_s2", "op_s3"}
	evmAccounts := []string{"op_e1", "op_e2"}
	for _, a := range stripeAccounts {
		e.stripePayer(a, "pm_card_visa")
	}
	wallets := map[string]money.Micros{}
	for _, a := range evmAccounts {
		_, w := e.evmPayer(a, 100_000_000, 100_000_000)
		wallets[w.Hex()] = 100_000_000
	}
	const rounds = 4
	var sum money.Micros
	for round := 0; round < rounds; round++ {
		for i, a := range stripeAccounts {
			e.use(a, round, "pub", "a.example", "USD", money.Micros(700_000+round*10_000+i))
		}
		for i, a := range evmAccounts {
			e.use(a, round, "pub", "a.example", "USDC", money.Micros(1_000_000+round*10_000+i))
		}
		e.clock.Set(e.closeTime(round))
		var wg sync.WaitGroup
		var locked [2]int
		for r := 0; r < 2; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := e.settler(hooks{})
				for try := 0; try < 200; try++ {
					_, err := s.RunOnce(e.ctx)
					if errors.Is(err, ledger.ErrLocked) {
						locked[r]++
						time.Sleep(5 * time.Millisecond)
						continue
					}
					if err != nil {
						t.Errorf("replica %d: %v", r, err)
					}
					return
				}
				t.Errorf("replica %d never got the lock", r)
			}()
		}
		wg.Wait()
		if locked[0]+locked[1] == 0 {
			t.Logf("round %d: the replicas did not overlap", round)
		}
		for _, a := range stripeAccounts {
			e.assertStripeOnce(e.invoice(ledger.InvoiceID(a, e.day(round), "USD")))
		}
		for _, a := range evmAccounts {
			inv := e.invoice(ledger.InvoiceID(a, e.day(round), "USDC"))
			if inv.Status != ledger.StatusPaid || attemptsOf(inv) != 1 {
				t.Fatalf("%s: %s, %d attempts", inv.ID, inv.Status, attemptsOf(inv))
			}
			p, _ := e.payers.Payer(e.ctx, a)
			wallets[p.Wallet] -= inv.Total
			sum += inv.Total
		}
	}
	e.assertChainOnce(wallets, sum, uint64(rounds*len(evmAccounts)))
}

// TestStaleSettlerIsFenced: a settler that stalls mid-charge until its lock
// expires, while another takes over and finishes the invoice, is refused
// by the ledger when it wakes up (ledger.ErrFenced), and the invoice is
// still charged once.
func TestStaleSettlerIsFenced(t *testing.T) {
	e := newEnv(t, rails{stripe: true})
	e.stripePayer("op_slow", "pm_card_visa")
	e.use("op_slow", 0, "pub", "a.example", "USD", 5_000_000)
	e.clock.Set(e.closeTime(0))
	id := ledger.InvoiceID("op_slow", e.day(0), "USD")

	stalled, wake := make(chan struct{}), make(chan struct{})
	stall := func(p string) error {
		if p == settle.FaultAfterCharging {
			close(stalled)
			<-wake
		}
		return nil
	}
	cfg := e.cfg
	cfg.LockTTL, cfg.Workers = time.Second, 1
	stale := e.settlerWith(cfg, hooks{settler: stall})
	done := make(chan error, 1)
	go func() {
		_, err := stale.RunOnce(e.ctx)
		done <- err
	}()
	select {
	case <-stalled:
	case <-time.After(30 * time.Second):
		t.Fatal("the first settler never reached the charge")
	}
	waitUnlocked(t, e)
	rep := mustRun(t, e.settler(hooks{}), e.ctx) // the new holder resumes the same attempt
	if inv := e.invoice(id); inv.Status != ledger.StatusPaid {
		t.Fatalf("after the takeover: %s (%+v)", inv.Status, rep)
	}
	close(wake)
	err := <-done
	if !errors.Is(err, ledger.ErrFenced) {
		t.Fatalf("the stale settler's run = %v, want ErrFenced", err)
	}
	inv := e.invoice(id)
	e.assertStripeOnce(inv)
	for _, h := range inv.History {
		if h.Kind == "transition" && h.To == ledger.StatusPaid && h.Token != inv.Token {
			t.Errorf("paid by token %d, invoice token %d", h.Token, inv.Token)
		}
	}
}

// waitUnlocked waits until the settler lock is free (expired).
func waitUnlocked(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, release, err := e.l.AcquireLock(context.Background(), settle.LockName, time.Millisecond)
		if err == nil {
			release()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(fmt.Errorf("the settler lock never expired"))
}
