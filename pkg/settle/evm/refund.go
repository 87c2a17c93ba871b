package evm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

var _ settle.Refunder = (*Rail)(nil)

// Refund sends req.Refund.Amount back from the treasury to the wallet that
// paid the invoice: a transferFrom(treasury, wallet, amount) signed by the
// settler, which the treasury must have approved as a spender. Like a
// charge it is written ahead: the nonce is claimed in the journal (claim
// RefundClaim(seq)), the signed transaction and its hash recorded on the
// refund, and only then broadcast. A resumed refund finds its record (or
// its claim) and sends that very transaction again, never a second one.
// Confirmed → done; reverted or dropped → failed; not confirmed within
// Config.ConfirmTimeout → pending (the next run looks again). A treasury
// without the balance or the allowance fails the refund, moving nothing.
func (r *Rail) Refund(ctx context.Context, req *settle.RefundRequest) (settle.RefundOutcome, error) {
	inv, ref := req.Invoice, req.Refund
	if ref.RawTx != "" {
		wa, err := r.decodeRefund(inv, ref, ref.RawTx, ref.Reference, ref.Nonce)
		if err != nil {
			return settle.RefundOutcome{}, err
		}
		r.log.Info("evm: reconciling a recorded refund", "invoice", inv.ID, "refund", ref.Seq, "tx", wa.hash, "nonce", wa.nonce)
		return r.awaitRefund(ctx, inv, ref, wa, time.Time{})
	}
	if _, err := r.chain(ctx); err != nil {
		return settle.RefundOutcome{}, err
	}
	if wa, err := r.adoptRefund(ctx, req); err != nil || wa != nil {
		if err != nil {
			return settle.RefundOutcome{}, err
		}
		return r.awaitRefund(ctx, inv, ref, wa, time.Now())
	}
	wallet := common.HexToAddress(req.Payer.Wallet)
	if !common.IsHexAddress(req.Payer.Wallet) || wallet == (common.Address{}) {
		return refundFailed(fmt.Sprintf("invoice %s has no paying wallet to refund", inv.ID), ""), nil
	}
	amount := BaseUnits(ref.Amount)
	if short, err := r.treasuryShort(ctx, amount, "refund"); err != nil || short != "" {
		if err != nil {
			return settle.RefundOutcome{}, err
		}
		return refundFailed(short, ""), nil
	}
	r.mu.Lock()
	wa, o, err := r.broadcastRefund(ctx, req, wallet)
	r.mu.Unlock()
	if err != nil || o != nil {
		if o != nil {
			return refundFailed(o.Reason, ""), nil
		}
		return settle.RefundOutcome{}, err
	}
	if err := settle.Fault(r.cfg.Faults, settle.FaultAfterBroadcast); err != nil {
		return settle.RefundOutcome{}, err
	}
	return r.awaitRefund(ctx, inv, ref, wa, time.Now())
}

// broadcastRefund signs, claims, records and sends a refund. Call with r.mu
// held.
func (r *Rail) broadcastRefund(ctx context.Context, req *settle.RefundRequest, wallet common.Address) (*writeAhead, *settle.Outcome, error) {
	u, o, err := r.prepareTransfer(ctx, r.cfg.Treasury, wallet, wallet, BaseUnits(req.Refund.Amount))
	if err != nil || o != nil {
		return nil, o, err
	}
	nonce, err := r.nextNonce(ctx)
	if err != nil {
		return nil, nil, err
	}
	wa, err := r.claimFor(ctx, req.Invoice.ID, ledger.RefundClaim(req.Refund.Seq), u, nonce, func(c ledger.NonceClaim) (*writeAhead, error) {
		return r.decodeRefund(req.Invoice, req.Refund, c.RawTx, c.TxHash, c.Nonce)
	})
	if err != nil {
		return nil, nil, err
	}
	if err := settle.Fault(r.cfg.Faults, settle.FaultBeforeWriteAhead); err != nil {
		return nil, nil, err
	}
	return wa, nil, r.recordAndSendRefund(ctx, req, wa)
}

// recordAndSendRefund writes wa ahead on the refund, then sends it.
func (r *Rail) recordAndSendRefund(ctx context.Context, req *settle.RefundRequest, wa *writeAhead) error {
	raw, err := wa.tx.MarshalBinary()
	if err != nil {
		return err
	}
	err = req.Record(ctx, ledger.RefundNote{RawTx: hexutil.Encode(raw), Nonce: int64(wa.nonce), Reference: wa.hash.Hex()})
	if err != nil {
		return fmt.Errorf("evm: write-ahead record of refund %d of %s: %w", req.Refund.Seq, req.Invoice.ID, err)
	}
	if err := settle.Fault(r.cfg.Faults, settle.FaultBeforeBroadcast); err != nil {
		return err
	}
	if err := r.send(ctx, wa.tx); err != nil {
		return fmt.Errorf("evm: broadcasting refund %s of invoice %s (recorded; the next run sends it again): %w", wa.hash, req.Invoice.ID, err)
	}
	r.log.Info("evm: refund broadcast", "invoice", req.Invoice.ID, "refund", req.Refund.Seq, "tx", wa.hash,
		"nonce", wa.nonce, "to", wa.wallet, "amount", FormatUnits(wa.amount))
	return nil
}

// adoptRefund records and sends a claim of the journal that the refund
// holds but does not record (a crash came between the two); nil if none.
func (r *Rail) adoptRefund(ctx context.Context, req *settle.RefundRequest) (*writeAhead, error) {
	claims, err := r.cfg.Ledger.NonceClaims(ctx, r.sender)
	if err != nil {
		return nil, fmt.Errorf("evm: nonce journal of %s: %w", r.from, err)
	}
	for _, c := range claims {
		if c.Invoice != req.Invoice.ID || c.Refund() != req.Refund.Seq {
			continue
		}
		wa, err := r.decodeRefund(req.Invoice, req.Refund, c.RawTx, c.TxHash, c.Nonce)
		if err != nil {
			return nil, err
		}
		r.log.Info("evm: recording the refund's claimed transfer", "invoice", req.Invoice.ID, "refund", req.Refund.Seq, "tx", wa.hash)
		r.mu.Lock()
		err = r.recordAndSendRefund(ctx, req, wa)
		r.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return wa, nil
	}
	return nil, nil
}

// refundGap is gap for claim c of refund seq: the refund records it (sent
// again, the nonce stays), the refund is pending without a record (it
// records c when resumed), or c was never sent and is released.
func (r *Rail) refundGap(ctx context.Context, inv *ledger.Invoice, c ledger.NonceClaim, seq int64) (bool, error) {
	if inv != nil && seq <= int64(len(inv.Refunds)) {
		ref := inv.Refunds[seq-1]
		switch {
		case ref.RawTx != "" && strings.EqualFold(ref.Reference, c.TxHash):
			wa, err := r.decodeRefund(inv, ref, c.RawTx, c.TxHash, c.Nonce)
			if err != nil {
				return false, err
			}
			if err := r.send(ctx, wa.tx); err != nil {
				return false, fmt.Errorf("evm: sending refund %s of invoice %s again (nonce %d, a gap): %w", wa.hash, inv.ID, wa.nonce, err)
			}
			return false, nil
		case ref.Status == ledger.RefundPending && ref.RawTx == "":
			return false, nil
		}
	}
	return r.release(ctx, claimed(c), "its refund will never send it"), nil
}

// decodeRefund reads a recorded refund transaction and checks it against
// the refund: a transferFrom of its amount from the treasury.
func (r *Rail) decodeRefund(inv *ledger.Invoice, ref ledger.Refund, rawTx, hash string, nonce int64) (*writeAhead, error) {
	tx, from, wallet, amount, err := r.recordedTransferFrom(rawTx, hash, nonce)
	if err == nil {
		if want := BaseUnits(ref.Amount); amount.Cmp(want) != 0 || from != r.cfg.Treasury {
			err = fmt.Errorf("transaction %s moves %s from %s, the refund is %s from %s", tx.Hash(), FormatUnits(amount), from, FormatUnits(want), r.cfg.Treasury)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: invoice %s refund %d: %v", settle.ErrStuck, inv.ID, ref.Seq, err)
	}
	return &writeAhead{tx: tx, hash: tx.Hash(), nonce: tx.Nonce(), wallet: wallet, amount: amount}, nil
}

// awaitRefund looks at a refund transfer until it is final or
// Config.ConfirmTimeout passes (see watch).
func (r *Rail) awaitRefund(ctx context.Context, inv *ledger.Invoice, _ ledger.Refund, wa *writeAhead, sent time.Time) (settle.RefundOutcome, error) {
	f, err := r.watch(ctx, wa, sent, "refund of invoice "+inv.ID)
	switch {
	case err != nil:
		return settle.RefundOutcome{}, err
	case f.reverted:
		return refundFailed(fmt.Sprintf("refund %s reverted in block %d; nothing was moved", wa.hash, f.block), wa.hash.Hex()), nil
	case f.dropped:
		return refundFailed(fmt.Sprintf("refund %s was dropped: nonce %d of %s was used by another transaction; nothing was moved",
			wa.hash, wa.nonce, r.from), wa.hash.Hex()), nil
	case f.done:
		return settle.RefundOutcome{Status: ledger.RefundDone, Reference: wa.hash.Hex(),
			Reason: fmt.Sprintf("refunded %s %s to %s by transfer %s in block %d (%d confirmations)",
				FormatUnits(wa.amount), Symbol, wa.wallet, wa.hash, f.block, f.confs)}, nil
	}
	return settle.RefundOutcome{Status: ledger.RefundPending, Reference: wa.hash.Hex()}, nil
}

// finality is what the chain says of a recorded transfer: confirmed
// (done, or reverted), dropped (its nonce went to another transaction), or
// none of them yet.
type finality struct {
	done, reverted, dropped bool
	block, confs            uint64
}

// watch looks at a recorded transfer until it is final or
// Config.ConfirmTimeout passes, broadcasting it again when the chain does
// not know it; sent is when it was last broadcast (zero: not by this call).
func (r *Rail) watch(ctx context.Context, wa *writeAhead, sent time.Time, what string) (finality, error) {
	deadline := time.Now().Add(r.cfg.ConfirmTimeout)
	for {
		if err := settle.Fault(r.cfg.Faults, settle.FaultConfirming); err != nil {
			return finality{}, err
		}
		head, confirmedAt, nonce, err := r.confirmedNonce(ctx)
		if err != nil {
			return finality{}, err
		}
		rcpt, err := r.cfg.Client.TransactionReceipt(ctx, wa.hash)
		switch {
		case err == nil, errors.Is(err, ethereum.NotFound), Indexing(err):
		default:
			return finality{}, fmt.Errorf("evm: receipt of %s: %w", wa.hash, err)
		}
		seen := err == nil && rcpt != nil && rcpt.BlockNumber != nil
		switch {
		case seen && rcpt.BlockNumber.Uint64() <= confirmedAt:
			block := rcpt.BlockNumber.Uint64()
			return finality{done: rcpt.Status == types.ReceiptStatusSuccessful, reverted: rcpt.Status != types.ReceiptStatusSuccessful,
				block: block, confs: head - block + 1}, nil
		case !seen && !Indexing(err) && nonce > wa.nonce:
			return finality{dropped: true}, nil
		case !seen && !Indexing(err) && (sent.IsZero() || time.Since(sent) >= rebroadcastEvery):
			if err := r.send(ctx, wa.tx); err != nil {
				return finality{}, fmt.Errorf("evm: broadcasting %s (%s) again: %w", wa.hash, what, err)
			}
			sent = time.Now()
		}
		if !time.Now().Before(deadline) {
			return finality{}, nil
		}
		t := time.NewTimer(r.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return finality{}, ctx.Err()
		case <-t.C:
		}
	}
}

func refundFailed(msg, ref string) settle.RefundOutcome {
	return settle.RefundOutcome{Status: ledger.RefundFailed, Reference: ref, Error: msg, Reason: msg}
}
