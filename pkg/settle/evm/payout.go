package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

var _ settle.PayoutRail = (*Rail)(nil)

// PayoutRecords reads payouts for the nonce journal's gaps
// (*earnings.Book): a claim held by a payout is kept, sent again or
// released by what its payout records.
type PayoutRecords interface {
	Payout(ctx context.Context, id string) (*earnings.Payout, error)
}

// IsPayoutClaim reports whether a nonce claim belongs to a payout (its
// owner is a payout id) rather than to an invoice.
func IsPayoutClaim(c ledger.NonceClaim) bool {
	return strings.HasPrefix(c.Invoice, ledger.PayoutClaimPrefix)
}

// Payout sends a payout from the treasury to the publisher's proved wallet:
// transferFrom(treasury, wallet, amount) signed by the settler, which the
// treasury approved as a spender (as for refunds). It is written ahead like
// a charge: the nonce is claimed in the journal for (payout, attempt), the
// signed transaction and its hash recorded on the payout, and only then
// broadcast; a resumed attempt finds its record (or its claim) and sends
// that very transaction again, never a second one. Confirmed → paid;
// reverted or dropped → failed (nothing moved); not confirmed within
// Config.ConfirmTimeout → still sending (the next run looks again). A
// treasury without the balance or allowance fails it, moving nothing.
func (r *Rail) Payout(ctx context.Context, req *settle.PayoutRequest) (settle.PayoutOutcome, error) {
	po := req.Payout
	if _, err := r.chain(ctx); err != nil {
		return settle.PayoutOutcome{}, err
	}
	if po.RawTx != "" {
		wa, err := r.decodePayout(po, po.RawTx, po.Reference, po.Nonce)
		if err != nil {
			return settle.PayoutOutcome{}, err
		}
		r.log.Info("evm: reconciling a recorded payout", "payout", po.ID, "attempt", po.Attempt, "tx", wa.hash)
		return r.awaitPayout(ctx, po, wa, time.Time{})
	}
	if wa, err := r.adoptPayout(ctx, req); err != nil || wa != nil {
		if err != nil {
			return settle.PayoutOutcome{}, err
		}
		return r.awaitPayout(ctx, po, wa, time.Now())
	}
	if !common.IsHexAddress(po.Destination) || common.HexToAddress(po.Destination) == (common.Address{}) {
		return payoutFailed(fmt.Sprintf("payout %s has no wallet to pay", po.ID), ""), nil
	}
	wallet := common.HexToAddress(po.Destination)
	amount := BaseUnits(po.Amount)
	if short, err := r.treasuryShort(ctx, amount, "payout"); err != nil || short != "" {
		if err != nil {
			return settle.PayoutOutcome{}, err
		}
		return payoutFailed(short, ""), nil
	}
	r.mu.Lock()
	wa, o, err := r.broadcastPayout(ctx, req, wallet)
	r.mu.Unlock()
	if err != nil || o != nil {
		if o != nil {
			return payoutFailed(o.Reason, ""), nil
		}
		return settle.PayoutOutcome{}, err
	}
	if err := settle.Fault(r.cfg.Faults, settle.FaultAfterBroadcast); err != nil {
		return settle.PayoutOutcome{}, err
	}
	return r.awaitPayout(ctx, po, wa, time.Now())
}

// broadcastPayout signs, claims, records and sends a payout. Call with r.mu
// held.
func (r *Rail) broadcastPayout(ctx context.Context, req *settle.PayoutRequest, wallet common.Address) (*writeAhead, *settle.Outcome, error) {
	po := req.Payout
	u, o, err := r.prepareTransfer(ctx, r.cfg.Treasury, wallet, wallet, BaseUnits(po.Amount))
	if err != nil || o != nil {
		return nil, o, err
	}
	nonce, err := r.nextNonce(ctx)
	if err != nil {
		return nil, nil, err
	}
	wa, err := r.claimFor(ctx, po.ID, po.Attempt, u, nonce, func(c ledger.NonceClaim) (*writeAhead, error) {
		return r.decodePayout(po, c.RawTx, c.TxHash, c.Nonce)
	})
	if err != nil {
		return nil, nil, err
	}
	if err := settle.Fault(r.cfg.Faults, settle.FaultBeforeWriteAhead); err != nil {
		return nil, nil, err
	}
	return wa, nil, r.recordAndSendPayout(ctx, req, wa)
}

// recordAndSendPayout writes wa ahead on the payout, then sends it.
func (r *Rail) recordAndSendPayout(ctx context.Context, req *settle.PayoutRequest, wa *writeAhead) error {
	raw, err := wa.tx.MarshalBinary()
	if err != nil {
		return err
	}
	if err := req.Record(ctx, hexutil.Encode(raw), int64(wa.nonce), wa.hash.Hex()); err != nil {
		return fmt.Errorf("evm: write-ahead record of payout %s: %w", req.Payout.ID, err)
	}
	if err := settle.Fault(r.cfg.Faults, settle.FaultBeforeBroadcast); err != nil {
		return err
	}
	if err := r.send(ctx, wa.tx); err != nil {
		return fmt.Errorf("evm: broadcasting payout %s (recorded; the next run sends it again): %w", req.Payout.ID, err)
	}
	r.log.Info("evm: payout broadcast", "payout", req.Payout.ID, "tx", wa.hash, "nonce", wa.nonce, "to", wa.wallet, "amount", FormatUnits(wa.amount))
	return nil
}

// adoptPayout records and sends a claim of the journal that the payout's
// attempt holds but does not record (a crash came between the two); nil if
// none.
func (r *Rail) adoptPayout(ctx context.Context, req *settle.PayoutRequest) (*writeAhead, error) {
	po := req.Payout
	claims, err := r.cfg.Ledger.NonceClaims(ctx, r.sender)
	if err != nil {
		return nil, fmt.Errorf("evm: nonce journal of %s: %w", r.from, err)
	}
	for _, c := range claims {
		if c.Invoice != po.ID || c.Attempt != po.Attempt {
			continue
		}
		wa, err := r.decodePayout(po, c.RawTx, c.TxHash, c.Nonce)
		if err != nil {
			return nil, err
		}
		r.log.Info("evm: recording the payout's claimed transfer", "payout", po.ID, "attempt", po.Attempt, "tx", wa.hash)
		r.mu.Lock()
		err = r.recordAndSendPayout(ctx, req, wa)
		r.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return wa, nil
	}
	return nil, nil
}

// payoutGap is gap for claim c of a payout: the payout records it (sent
// again, the nonce stays), the payout's attempt is sending without a record
// (it records c when resumed), or c was never sent and is released. Without
// Config.Payouts a payout's claim is kept: its nonce is skipped, never
// reused on a guess.
func (r *Rail) payoutGap(ctx context.Context, c ledger.NonceClaim) (bool, error) {
	if r.cfg.Payouts == nil {
		return false, nil
	}
	po, err := r.cfg.Payouts.Payout(ctx, c.Invoice)
	switch {
	case errors.Is(err, earnings.ErrNotFound):
		po = nil
	case err != nil:
		return false, fmt.Errorf("evm: payout %s of nonce %d: %w", c.Invoice, c.Nonce, err)
	}
	switch {
	case po != nil && po.Attempt == c.Attempt && po.RawTx != "" && strings.EqualFold(po.Reference, c.TxHash):
		wa, err := r.decodePayout(po, c.RawTx, c.TxHash, c.Nonce)
		if err != nil {
			return false, err
		}
		if err := r.send(ctx, wa.tx); err != nil {
			return false, fmt.Errorf("evm: sending payout %s again (nonce %d, a gap): %w", po.ID, wa.nonce, err)
		}
		return false, nil
	case po != nil && po.Status == earnings.PayoutSending && po.Attempt == c.Attempt && po.RawTx == "":
		return false, nil
	}
	return r.release(ctx, claimed(c), "its payout will never send it"), nil
}

// decodePayout reads a recorded payout transaction and checks it against
// the payout: a transferFrom of its amount from the treasury to its wallet.
func (r *Rail) decodePayout(po *earnings.Payout, rawTx, hash string, nonce int64) (*writeAhead, error) {
	tx, from, to, amount, err := r.recordedTransferFrom(rawTx, hash, nonce)
	if err == nil {
		if want := BaseUnits(po.Amount); amount.Cmp(want) != 0 || from != r.cfg.Treasury || !strings.EqualFold(to.Hex(), po.Destination) {
			err = fmt.Errorf("transaction %s moves %s from %s to %s, the payout is %s from %s to %s", tx.Hash(), FormatUnits(amount), from, to,
				FormatUnits(want), r.cfg.Treasury, po.Destination)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: payout %s: %v", settle.ErrStuck, po.ID, err)
	}
	return &writeAhead{tx: tx, hash: tx.Hash(), nonce: tx.Nonce(), wallet: to, amount: amount}, nil
}

// awaitPayout maps what watch learns of a payout's transfer.
func (r *Rail) awaitPayout(ctx context.Context, po *earnings.Payout, wa *writeAhead, sent time.Time) (settle.PayoutOutcome, error) {
	f, err := r.watch(ctx, wa, sent, "payout "+po.ID)
	switch {
	case err != nil:
		return settle.PayoutOutcome{}, err
	case f.reverted:
		return payoutFailed(fmt.Sprintf("payout transfer %s reverted in block %d; nothing was moved", wa.hash, f.block), wa.hash.Hex()), nil
	case f.dropped:
		return payoutFailed(fmt.Sprintf("payout transfer %s was dropped: nonce %d of %s went to another transaction; nothing was moved",
			wa.hash, wa.nonce, r.from), wa.hash.Hex()), nil
	case f.done:
		return settle.PayoutOutcome{Status: earnings.PayoutPaid, Reference: wa.hash.Hex(),
			Reason: fmt.Sprintf("paid %s %s to %s by transfer %s in block %d (%d confirmations)",
				FormatUnits(wa.amount), Symbol, wa.wallet, wa.hash, f.block, f.confs)}, nil
	}
	return settle.PayoutOutcome{Status: earnings.PayoutSending, Reference: wa.hash.Hex()}, nil
}

func payoutFailed(msg, ref string) settle.PayoutOutcome {
	return settle.PayoutOutcome{Status: earnings.PayoutFailed, Reference: ref, Error: msg, Reason: msg}
}

// treasuryShort says why the treasury cannot send amount (its balance, or
// its allowance to the settler, is too small), "" when it can.
func (r *Rail) treasuryShort(ctx context.Context, amount *big.Int, what string) (string, error) {
	bal, err := BalanceOf(ctx, r.cfg.Client, r.cfg.Token, r.cfg.Treasury)
	if err != nil {
		return "", err
	}
	allow, err := Allowance(ctx, r.cfg.Client, r.cfg.Token, r.cfg.Treasury, r.from)
	if err != nil {
		return "", err
	}
	if bal.Cmp(amount) < 0 || allow.Cmp(amount) < 0 {
		return fmt.Sprintf("the treasury %s has %s %s and lets the settler %s move %s; the %s needs %s: nothing was moved",
			r.cfg.Treasury, FormatUnits(bal), Symbol, r.from, FormatUnits(allow), what, FormatUnits(amount)), nil
	}
	return "", nil
}
