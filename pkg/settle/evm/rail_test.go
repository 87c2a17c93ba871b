package evm_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/evm"
	"github.com/paycrawl/paycrawl/pkg/settle/evm/devchain"
)

// world is an embedded chain with the token deployed, a settler, a treasury
// and a rail, and a real redis-server keeping the rail's nonce journal.
type world struct {
	t        *testing.T
	ctx      context.Context
	chain    *devchain.Chain
	client   evm.Client // the rails' client: the chain's, or a wrapper of it
	minter   *ecdsa.PrivateKey
	settler  *ecdsa.PrivateKey
	from     common.Address
	token    common.Address
	treasury common.Address
	rail     *evm.Rail
	books    *books
}

// books is the rails' ledger: the nonce journal in Redis, and the invoices
// the tests charge kept in memory (each request's Record writes there).
type books struct {
	*ledger.Ledger
	mu       sync.Mutex
	invoices map[string]*ledger.Invoice
}

// Invoice returns a copy of invoice id as its Record calls left it.
func (b *books) Invoice(_ context.Context, id string) (*ledger.Invoice, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	inv, ok := b.invoices[id]
	if !ok {
		return nil, ledger.ErrNotFound
	}
	cp := *inv
	return &cp, nil
}

func newWorld(t *testing.T, faults func(string) error) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	w := &world{t: t, ctx: ctx}
	var minterAddr common.Address
	w.minter, minterAddr, _ = devchain.NewKey()
	w.settler, w.from, _ = devchain.NewKey()
	_, w.treasury, _ = devchain.NewKey()
	ch, err := devchain.Start(devchain.Options{BlockInterval: 20 * time.Millisecond, Fund: []common.Address{minterAddr, w.from}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	w.chain, w.client = ch, ch.Client()
	if w.token, err = devchain.DeployToken(ctx, ch.Client(), w.minter); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(testredis.Start(t, testredis.Options{Fsync: "no"}).Client(), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.books = &books{Ledger: l, invoices: map[string]*ledger.Invoice{}}
	w.rail = w.newRail(faults)
	if err := w.rail.Check(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) newRail(faults func(string) error) *evm.Rail {
	r, err := evm.New(evm.Config{Client: w.client, Token: w.token, Treasury: w.treasury, Key: w.settler, Ledger: w.books,
		Confirmations: 2, PollInterval: 10 * time.Millisecond, ConfirmTimeout: 10 * time.Second, Faults: faults})
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// wallet makes a wallet holding minted and approving approved to the settler.
func (w *world) wallet(minted, approved money.Micros) common.Address {
	w.t.Helper()
	k, a, _ := devchain.NewKey()
	if err := devchain.Fund(w.ctx, w.chain.Client(), w.minter, a, devchain.Ether); err != nil {
		w.t.Fatal(err)
	}
	if err := devchain.Mint(w.ctx, w.chain.Client(), w.minter, w.token, a, minted); err != nil {
		w.t.Fatal(err)
	}
	if err := devchain.Approve(w.ctx, w.chain.Client(), k, w.token, w.from, approved); err != nil {
		w.t.Fatal(err)
	}
	return a
}

func (w *world) balance(a common.Address) money.Micros {
	w.t.Helper()
	b, err := devchain.Balance(w.ctx, w.chain.Client(), w.token, a)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

func (w *world) nonce() uint64 {
	n, err := w.chain.Client().NonceAt(w.ctx, w.from, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

// request returns a charge request for a charging invoice (attempt 1),
// kept in w.books, whose Record keeps the write-ahead record on the invoice,
// as the ledger does.
func (w *world) request(account, cur string, total money.Micros, wallet common.Address) *settle.ChargeRequest {
	inv := &ledger.Invoice{ID: ledger.InvoiceID(account, "2026-11-20", cur), Account: account, Day: "2026-11-20",
		Currency: cur, Status: ledger.StatusCharging, Total: total,
		History: []ledger.Event{{Kind: "transition", From: ledger.StatusApproved, To: ledger.StatusCharging}}}
	b := w.books
	b.mu.Lock()
	b.invoices[inv.ID] = inv
	b.mu.Unlock()
	req := &settle.ChargeRequest{Invoice: inv, Attempt: 1, Started: time.Now(), Payer: settle.Payer{Account: account, Rail: evm.Name, Wallet: wallet.Hex()}}
	req.Record = func(_ context.Context, set ledger.Settlement, note ledger.Attempt) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if inv.WriteAhead == req.Attempt && inv.RawTx != set.RawTx {
			return ledger.ErrConflict
		}
		inv.RawTx, inv.Nonce, inv.TxHash, inv.WriteAhead = set.RawTx, set.Nonce, set.TxHash, req.Attempt
		inv.Attempts = append(inv.Attempts, note)
		return nil
	}
	return req
}

func TestChargeMovesTheTokenOnce(t *testing.T) {
	w := newWorld(t, nil)
	tests := []struct {
		cur    string
		total  money.Micros
		reason string
	}{
		{"USDC", 1_234_567, "paid 1.234567 USDC"},
		{"USD", 2_000_000, "USD settled 1:1 in USDC"},
	}
	for _, tt := range tests {
		t.Run(tt.cur, func(t *testing.T) {
			wallet := w.wallet(10_000_000, 10_000_000)
			before, tBefore, n := w.balance(wallet), w.balance(w.treasury), w.nonce()
			req := w.request("op_"+tt.cur, tt.cur, tt.total, wallet)
			o, err := w.rail.Charge(w.ctx, req)
			if err != nil || o.Status != ledger.StatusPaid || o.Settlement.Charged != tt.total || o.Settlement.Block == 0 ||
				o.Settlement.TxHash != req.Invoice.TxHash || !strings.Contains(o.Reason, tt.reason) {
				t.Fatalf("Charge = %+v, %v", o, err)
			}
			if w.balance(wallet) != before-tt.total || w.balance(w.treasury) != tBefore+tt.total || w.nonce() != n+1 {
				t.Fatalf("balances %s → %s, treasury %s → %s, nonce %d → %d", before, w.balance(wallet), tBefore, w.balance(w.treasury), n, w.nonce())
			}
			// The attempt again (a resume) finds the same transfer: no second one.
			again, err := w.rail.Charge(w.ctx, req)
			if err != nil || again.Status != ledger.StatusPaid || again.Settlement.TxHash != o.Settlement.TxHash || w.nonce() != n+1 {
				t.Fatalf("resumed Charge = %+v, %v; nonce %d", again, err, w.nonce())
			}
			if w.balance(wallet) != before-tt.total {
				t.Fatalf("the resume moved money again")
			}
		})
	}
}

func TestChargeRefusesWhatTheWalletCannotPay(t *testing.T) {
	w := newWorld(t, nil)
	tests := []struct {
		name              string
		minted, approved  money.Micros
		detail, wantError string
	}{
		{"allowance too low", 5_000_000, 500_000, "insufficient_allowance",
			"allowance 0.50 USDC < 1.23 USDC: approve the settler " + w.from.Hex() + " on token " + w.token.Hex()},
		{"no allowance", 5_000_000, 0, "insufficient_allowance", "allowance 0.00 USDC < 1.23 USDC"},
		{"balance too low", 1_000_000, 5_000_000, "insufficient_balance", "balance 1.00 USDC < 1.23 USDC in wallet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wallet := w.wallet(tt.minted, tt.approved)
			n := w.nonce()
			o, err := w.rail.Charge(w.ctx, w.request("op_x", "USDC", 1_230_000, wallet))
			if err != nil || o.Status != ledger.StatusFailed || o.Detail != tt.detail ||
				!strings.HasPrefix(o.Settlement.Error, tt.wantError) || !strings.Contains(o.Settlement.Error, "nothing was moved") {
				t.Fatalf("Charge = %+v, %v", o, err)
			}
			if w.balance(wallet) != tt.minted || w.nonce() != n {
				t.Fatalf("money or nonce moved: balance %s, nonce %d → %d", w.balance(wallet), n, w.nonce())
			}
		})
	}
	o, err := w.rail.Charge(w.ctx, w.request("op_eur", "EUR", 1, common.Address{}))
	if err != nil || o.Status != ledger.StatusFailed {
		t.Errorf("EUR invoice: %+v, %v", o, err)
	}
	o, err = w.rail.Charge(w.ctx, w.request("op_nowallet", "USDC", 1, common.Address{}))
	if err != nil || o.Status != ledger.StatusFailed || o.Detail != "no_wallet" {
		t.Errorf("invoice without a wallet: %+v, %v", o, err)
	}
	o, err = w.rail.Charge(w.ctx, w.request("op_zero", "USDC", 0, common.Address{}))
	if err != nil || o.Status != ledger.StatusCarried {
		t.Errorf("zero invoice: %+v, %v", o, err)
	}
}

// TestResumeRebroadcastsTheRecordedTransaction: a crash between the
// write-ahead record and the broadcast, or a node that lost the
// transaction, is resumed by sending the very same signed transaction.
func TestResumeRebroadcastsTheRecordedTransaction(t *testing.T) {
	for _, point := range []string{settle.FaultBeforeBroadcast, settle.FaultAfterBroadcast} {
		t.Run(point, func(t *testing.T) {
			var crash bool
			w := newWorld(t, nil)
			wallet := w.wallet(5_000_000, 5_000_000)
			n := w.nonce()
			crashing := w.newRail(func(p string) error {
				if p == point && !crash {
					crash = true
					if p == settle.FaultAfterBroadcast {
						w.chain.Pause()
						w.chain.Rollback() // the node forgets it
					}
					return settle.ErrInjected
				}
				return nil
			})
			req := w.request("op_r", "USDC", 1_000_000, wallet)
			if _, err := crashing.Charge(w.ctx, req); !errors.Is(err, settle.ErrInjected) {
				t.Fatalf("crash: %v", err)
			}
			recorded := req.Invoice.RawTx
			w.chain.Resume()
			o, err := w.newRail(nil).Charge(w.ctx, req)
			if err != nil || o.Status != ledger.StatusPaid || req.Invoice.RawTx != recorded || o.Settlement.TxHash != req.Invoice.TxHash {
				t.Fatalf("resumed Charge = %+v, %v", o, err)
			}
			if w.nonce() != n+1 || w.balance(wallet) != 4_000_000 || w.balance(w.treasury) != 1_000_000 {
				t.Fatalf("nonce %d → %d, wallet %s, treasury %s", n, w.nonce(), w.balance(wallet), w.balance(w.treasury))
			}
		})
	}
}

// TestDroppedTransactionFails: a recorded transaction whose nonce another
// transaction took can never be mined: failed "dropped", nothing moved.
func TestDroppedTransactionFails(t *testing.T) {
	w := newWorld(t, nil)
	wallet := w.wallet(5_000_000, 5_000_000)
	crashing := w.newRail(func(p string) error {
		if p == settle.FaultBeforeBroadcast {
			return settle.ErrInjected
		}
		return nil
	})
	req := w.request("op_d", "USDC", 1_000_000, wallet)
	if _, err := crashing.Charge(w.ctx, req); !errors.Is(err, settle.ErrInjected) {
		t.Fatalf("crash: %v", err)
	}
	// Something else spends the settler's nonce.
	if err := devchain.Fund(w.ctx, w.chain.Client(), w.settler, w.treasury, devchain.Ether); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		w.chain.Commit()
	}
	o, err := w.newRail(nil).Charge(w.ctx, req)
	if err != nil || o.Status != ledger.StatusFailed || o.Detail != "dropped" || w.balance(wallet) != 5_000_000 {
		t.Fatalf("Charge = %+v, %v; wallet %s", o, err, w.balance(wallet))
	}
}

// TestPendingThenStatus: a transfer unconfirmed within the timeout is
// pending; Status finishes it.
func TestPendingThenStatus(t *testing.T) {
	w := newWorld(t, nil)
	wallet := w.wallet(5_000_000, 5_000_000)
	r, err := evm.New(evm.Config{Client: w.client, Token: w.token, Treasury: w.treasury, Key: w.settler, Ledger: w.books,
		Confirmations: 3, PollInterval: 10 * time.Millisecond, ConfirmTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.chain.Pause()
	req := w.request("op_p", "USDC", 2_500_000, wallet)
	o, err := r.Charge(w.ctx, req)
	if err != nil || o.Status != ledger.StatusPending || o.Settlement.TxHash != req.Invoice.TxHash {
		t.Fatalf("Charge = %+v, %v", o, err)
	}
	w.chain.Resume()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, err = r.Status(w.ctx, req.Invoice, settle.Payer{})
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != ledger.StatusPending || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if o.Status != ledger.StatusPaid || w.balance(w.treasury) != 2_500_000 {
		t.Fatalf("Status = %+v", o)
	}
	// A write-ahead record that does not match the invoice needs a person.
	req.Invoice.Total++
	if _, err := r.Status(w.ctx, req.Invoice, settle.Payer{}); !errors.Is(err, settle.ErrStuck) {
		t.Fatalf("tampered record: %v, want ErrStuck", err)
	}
}
