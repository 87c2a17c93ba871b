package evm_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/evm"
)

// recorder is a chain client that remembers every transaction sent and
// every error the node answered.
type recorder struct {
	evm.Client
	mu   sync.Mutex
	sent map[uint64]map[common.Hash]bool // nonce → transactions sent with it
	errs map[common.Hash][]error
}

func (c *recorder) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	err := c.Client.SendTransaction(ctx, tx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sent[tx.Nonce()] == nil {
		c.sent[tx.Nonce()] = map[common.Hash]bool{}
	}
	c.sent[tx.Nonce()][tx.Hash()] = true
	if err != nil {
		c.errs[tx.Hash()] = append(c.errs[tx.Hash()], err)
	}
	return err
}

// record makes the rails built from now on send through a recorder.
func (w *world) record() *recorder {
	rec := &recorder{Client: w.chain.Client(), sent: map[uint64]map[common.Hash]bool{}, errs: map[common.Hash][]error{}}
	w.client = rec
	return rec
}

// assertNoCollision fails the test if two transactions were sent with one
// nonce, or if the node answered a send with "replacement transaction
// underpriced" (a nonce collision in its pool) or "nonce too low" for a
// transaction that was not mined (sending one that was mined a moment
// before is harmless).
func (c *recorder) assertNoCollision(w *world) {
	w.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, txs := range c.sent {
		if len(txs) > 1 {
			w.t.Errorf("nonce %d was sent with %d transactions: %v", n, len(txs), txs)
		}
	}
	for h, errs := range c.errs {
		for _, err := range errs {
			switch msg := err.Error(); {
			case strings.Contains(msg, "underpriced"):
				w.t.Errorf("send %s: %v", h, err)
			case strings.Contains(msg, "nonce too low"):
				if _, rerr := w.chain.Client().TransactionReceipt(w.ctx, h); rerr != nil {
					w.t.Errorf("send %s: %v, and it was never mined", h, err)
				}
			}
		}
	}
}

// crashAt is a Faults hook that kills the charge at point.
func crashAt(point string) func(string) error {
	return func(p string) error {
		if p == point {
			return settle.ErrInjected
		}
		return nil
	}
}

// bill is one invoice a test charges and what it should cost its wallet.
type bill struct {
	req    *settle.ChargeRequest
	wallet common.Address
	amount money.Micros
	// tx is the transaction recorded before the crash ("" if none).
	tx string
}

func (w *world) bill(account string, amount money.Micros) *bill {
	wallet := w.wallet(5_000_000, 5_000_000)
	return &bill{req: w.request(account, "USDC", amount, wallet), wallet: wallet, amount: amount}
}

// chargeAll charges every bill at once, bill i on rails[i%len(rails)], and
// fails the test unless each is paid by that one call.
func (w *world) chargeAll(bills []*bill, rails ...*evm.Rail) {
	w.t.Helper()
	var wg sync.WaitGroup
	for i, b := range bills {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := rails[i%len(rails)].Charge(w.ctx, b.req)
			if err != nil || o.Status != ledger.StatusPaid || o.Settlement.Charged != b.amount {
				w.t.Errorf("%s: Charge = %s %s (%s), %v", b.req.Invoice.ID, o.Status, o.Settlement.Charged, o.Reason, err)
			}
		}()
	}
	wg.Wait()
}

// assertPaidOnce proves that every bill moved its amount exactly once, by
// its own transaction, each with a nonce of its own: the wallets, the
// treasury and the settler's nonce (from start) say so.
func (w *world) assertPaidOnce(bills []*bill, start uint64) {
	w.t.Helper()
	var sum money.Micros
	nonces := map[int64]string{}
	for _, b := range bills {
		sum += b.amount
		if got := w.balance(b.wallet); got != 5_000_000-b.amount {
			w.t.Errorf("%s: wallet holds %s, want %s", b.req.Invoice.ID, got, 5_000_000-b.amount)
		}
		inv, _ := w.books.Invoice(w.ctx, b.req.Invoice.ID)
		if b.tx != "" && inv.TxHash != b.tx {
			w.t.Errorf("%s: resumed with transaction %s, recorded %s before the crash", inv.ID, inv.TxHash, b.tx)
		}
		if other, dup := nonces[inv.Nonce]; dup {
			w.t.Errorf("%s and %s were both recorded with nonce %d", inv.ID, other, inv.Nonce)
		}
		nonces[inv.Nonce] = inv.ID
	}
	if got := w.balance(w.treasury); got != sum {
		w.t.Errorf("treasury holds %s, want %s", got, sum)
	}
	if got, want := w.nonce(), start+uint64(len(bills)); got != want {
		w.t.Errorf("settler nonce %d, want %d (one transaction per invoice)", got, want)
	}
}

// TestResumedTransfersKeepTheirNonces kills six charges, each in its own
// process (a rail dropped after its crash): four after the write-ahead
// record and before their broadcast, two between the nonce claim and the
// record. (A later charge's allocation may send an earlier recorded
// transfer to fill its nonce: that is the gap rule, not a second transfer.)
// A restarted rail then resumes all six while it charges three new
// invoices: each resumed transfer is sent with the nonce it was signed with
// (the very same transaction), the new ones get nonces past them, nothing
// collides and every invoice is paid once, by its first call.
func TestResumedTransfersKeepTheirNonces(t *testing.T) {
	w := newWorld(t, nil)
	rec := w.record()
	start := w.nonce()
	var bills []*bill
	for i := 0; i < 6; i++ {
		b := w.bill(fmt.Sprintf("op_k%d", i), money.Micros(1_000_000+i*10_001))
		point := settle.FaultBeforeBroadcast
		if i%3 == 2 {
			point = settle.FaultBeforeWriteAhead
		}
		if _, err := w.newRail(crashAt(point)).Charge(w.ctx, b.req); !errors.Is(err, settle.ErrInjected) {
			t.Fatalf("%s: killed charge: %v", b.req.Invoice.ID, err)
		}
		if point == settle.FaultBeforeBroadcast && b.req.Invoice.TxHash == "" {
			t.Fatalf("%s: no write-ahead record before the broadcast", b.req.Invoice.ID)
		}
		b.tx = b.req.Invoice.TxHash
		bills = append(bills, b)
	}
	for i := 0; i < 3; i++ {
		bills = append(bills, w.bill(fmt.Sprintf("op_new%d", i), money.Micros(2_000_000+i*3)))
	}
	w.chargeAll(bills, w.newRail(nil))
	w.assertPaidOnce(bills, start)
	rec.assertNoCollision(w)
}

// TestTwoRailsNeverShareANonce: two settlers with the same key (two
// replicas, or one whose lock expired under it) charging at the same time
// allocate distinct nonces through the journal.
func TestTwoRailsNeverShareANonce(t *testing.T) {
	w := newWorld(t, nil)
	rec := w.record()
	start := w.nonce()
	var bills []*bill
	for i := 0; i < 10; i++ {
		bills = append(bills, w.bill(fmt.Sprintf("op_c%d", i), money.Micros(1_000_000+i*7)))
	}
	w.chargeAll(bills, w.newRail(nil), w.newRail(nil))
	w.assertPaidOnce(bills, start)
	rec.assertNoCollision(w)
}

// TestNonceGapIsFilled: a claimed nonce the chain never saw blocks every
// later one, so the next allocation fills it. A transfer its invoice
// recorded is sent again (it is that invoice's valid transfer: the
// invoice's own resume then finds it paid); a claim whose attempt ended
// without recording it was never sent and never will be, so it is released
// and its nonce reused.
func TestNonceGapIsFilled(t *testing.T) {
	t.Run("recorded", func(t *testing.T) {
		w := newWorld(t, nil)
		rec := w.record()
		start := w.nonce()
		x := w.bill("op_x", 1_500_000)
		if _, err := w.newRail(crashAt(settle.FaultBeforeBroadcast)).Charge(w.ctx, x.req); !errors.Is(err, settle.ErrInjected) {
			t.Fatal(err)
		}
		x.tx = x.req.Invoice.TxHash
		// Another invoice is charged before x is resumed: it must not wait
		// behind x's nonce.
		y := w.bill("op_y", 700_000)
		w.chargeAll([]*bill{y}, w.newRail(nil))
		w.chargeAll([]*bill{x}, w.newRail(nil))
		w.assertPaidOnce([]*bill{x, y}, start)
		rec.assertNoCollision(w)
	})
	t.Run("orphan", func(t *testing.T) {
		w := newWorld(t, nil)
		rec := w.record()
		start := w.nonce()
		x := w.bill("op_x", 1_500_000)
		if _, err := w.newRail(crashAt(settle.FaultBeforeWriteAhead)).Charge(w.ctx, x.req); !errors.Is(err, settle.ErrInjected) {
			t.Fatal(err)
		}
		// The attempt ends without its transaction (as no settler of this
		// version lets it): the claim is an orphan.
		w.books.mu.Lock()
		x.req.Invoice.Status = ledger.StatusFailed
		w.books.mu.Unlock()
		y := w.bill("op_y", 700_000)
		w.chargeAll([]*bill{y}, w.newRail(nil))
		if w.nonce() != start+1 || w.balance(x.wallet) != 5_000_000 {
			t.Fatalf("nonce %d → %d, x's wallet %s: the orphan's nonce was not reused, or it was sent", start, w.nonce(), w.balance(x.wallet))
		}
		// x's next attempt signs anew and pays once.
		w.books.mu.Lock()
		x.req.Invoice.Status = ledger.StatusCharging
		x.req.Invoice.History = append(x.req.Invoice.History, ledger.Event{Kind: "transition", From: ledger.StatusFailed, To: ledger.StatusCharging})
		w.books.mu.Unlock()
		x.req.Attempt = 2
		w.chargeAll([]*bill{x}, w.newRail(nil))
		w.assertPaidOnce([]*bill{x, y}, start)
		rec.assertNoCollision(w)
	})
}
