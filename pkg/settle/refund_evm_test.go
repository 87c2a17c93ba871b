package settle_test

import (
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/evm"
	"github.com/paycrawl/paycrawl/pkg/settle/evm/devchain"
)

// paidEVM charges a day of account on the chain (its wallet holds 5.00)
// and lets the settler move approved from the treasury for refunds.
func (e *env) paidEVM(account string, amount, approved money.Micros) (*ledger.Invoice, common.Address) {
	e.t.Helper()
	_, w := e.evmPayer(account, 5_000_000, 5_000_000)
	e.use(account, 0, "pub", "a.example", "USDC", amount)
	e.clock.Set(e.closeTime(0))
	mustRun(e.t, e.settler(hooks{}), e.ctx)
	inv := e.invoice(ledger.InvoiceID(account, e.day(0), "USDC"))
	if inv.Status != ledger.StatusPaid || inv.Charged != amount {
		e.t.Fatalf("%s is %s, charged %s", inv.ID, inv.Status, inv.Charged)
	}
	if approved > 0 {
		if err := devchain.Fund(e.ctx, e.chain.Client(), e.minter, e.treasury, devchain.Ether); err != nil {
			e.t.Fatal(err)
		}
		if err := devchain.Approve(e.ctx, e.chain.Client(), e.treasuryKey, e.token, e.settlerAddr, approved); err != nil {
			e.t.Fatal(err)
		}
	}
	return inv, w
}

// TestEVMRefund refunds part of a paid invoice from the treasury to the
// paying wallet, then the rest; the write-ahead record is on the refund,
// and the chain saw exactly one transfer per refund.
func TestEVMRefund(t *testing.T) {
	e := newEnv(t, rails{evm: true})
	inv, w := e.paidEVM("op_back", 2_000_000, 10_000_000)
	s := e.settler(hooks{})
	rv := settle.Review{Actor: "fin", Reason: "double charge"}
	res, err := s.Refund(e.ctx, inv.ID, 500_000, rv)
	if err != nil || res.Warning != "" {
		t.Fatalf("Refund = %+v, %v", res, err)
	}
	r := res.Invoice.Refunds[0]
	if r.Status != ledger.RefundDone || r.RawTx == "" || !strings.HasPrefix(r.Reference, "0x") || res.Invoice.RefundState() != ledger.RefundStatePartial {
		t.Fatalf("refund %+v", r)
	}
	if res, err = s.Refund(e.ctx, inv.ID, 0, rv); err != nil || res.Invoice.RefundState() != ledger.RefundStateFull {
		t.Fatalf("Refund of the rest = %+v, %v", res, err)
	}
	// One charge and two refunds: the wallet is whole again.
	e.assertChainOnce(map[string]money.Micros{w.Hex(): 5_000_000}, 0, 3)
	_, err = s.Refund(e.ctx, inv.ID, 1, rv)
	wantErr(t, err, ledger.ErrRefundExceeds)
}

// TestEVMRefundTreasuryNotApproved: a treasury that has not approved the
// settler fails the refund, says why, moves nothing and frees the amount.
func TestEVMRefundTreasuryNotApproved(t *testing.T) {
	e := newEnv(t, rails{evm: true})
	inv, w := e.paidEVM("op_noappr", 1_000_000, 0)
	res, err := e.settler(hooks{}).Refund(e.ctx, inv.ID, 0, settle.Review{Actor: "fin", Reason: "r"})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Invoice.Refunds[0]
	if r.Status != ledger.RefundFailed || !strings.Contains(r.Error, "lets the settler") || res.Invoice.Refundable() != 1_000_000 {
		t.Fatalf("refund %+v, refundable %s", r, res.Invoice.Refundable())
	}
	e.assertChainOnce(map[string]money.Micros{w.Hex(): 4_000_000}, 1_000_000, 1)
}

// TestEVMRefundCrashes kills a refund at each step from signing to
// confirmation; the next run resumes it and the chain sees exactly one
// refund transfer: after the write-ahead record the very same signed
// transaction is sent again, never a second one.
func TestEVMRefundCrashes(t *testing.T) {
	points := []string{settle.FaultBeforeWriteAhead, settle.FaultBeforeBroadcast, settle.FaultAfterBroadcast,
		settle.FaultConfirming, settle.FaultBeforeOutcome}
	for _, point := range points {
		t.Run(point, func(t *testing.T) {
			e := newEnv(t, rails{evm: true})
			inv, w := e.paidEVM("op_crash", 3_000_000, 10_000_000)
			hook, fired := crashAt(point)
			h := hooks{evm: hook}
			if point == settle.FaultBeforeOutcome {
				h = hooks{settler: hook}
			}
			res, err := e.settler(h).Refund(e.ctx, inv.ID, 1_000_000, settle.Review{Actor: "fin", Reason: "crash"})
			if err != nil || fired.Load() != 1 || !strings.Contains(res.Warning, "injected") {
				t.Fatalf("crashed refund = %+v, %v (fired %d)", res, err, fired.Load())
			}
			before := e.invoice(inv.ID).Refunds[0]
			if before.Status != ledger.RefundPending {
				t.Fatalf("after the crash: %+v", before)
			}
			wroteAhead := point != settle.FaultBeforeWriteAhead
			if (before.RawTx != "") != wroteAhead {
				t.Fatalf("write-ahead record after a crash at %s: %q", point, before.RawTx)
			}
			mustRun(t, e.settler(hooks{}), e.ctx)
			after := e.invoice(inv.ID)
			got := after.Refunds[0]
			if got.Status != ledger.RefundDone || after.Refunded != 1_000_000 || after.RefundPending != 0 {
				t.Fatalf("after the resume: %+v, refunded %s", got, after.Refunded)
			}
			if wroteAhead && (got.RawTx != before.RawTx || got.Reference != before.Reference) {
				t.Errorf("the resumed refund sent another transaction: %s, recorded %s", got.Reference, before.Reference)
			}
			mustRun(t, e.settler(hooks{}), e.ctx)
			e.assertChainOnce(map[string]money.Micros{w.Hex(): 3_000_000}, 2_000_000, 2)
			claims, err := e.l.NonceClaims(e.ctx, senderOf(t, e))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range claims {
				if c.Refund() == 1 && !strings.EqualFold(c.TxHash, got.Reference) {
					t.Errorf("a claim of the refund holds another transaction: %+v", c)
				}
			}
		})
	}
}

// senderOf is the nonce journal's name of the settler's address.
func senderOf(t *testing.T, e *env) string {
	t.Helper()
	id, err := e.chain.Client().ChainID(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return evm.SenderName(id, e.settlerAddr)
}
