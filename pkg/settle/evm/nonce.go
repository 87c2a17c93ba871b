package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// Ledger is what the rail needs of the ledger (*ledger.Ledger): the nonce
// journal of the settler's address, and the invoices its claims belong to.
type Ledger interface {
	ClaimNonce(ctx context.Context, sender string, c ledger.NonceClaim) (ledger.NonceClaim, error)
	NonceClaims(ctx context.Context, sender string) ([]ledger.NonceClaim, error)
	ReleaseNonce(ctx context.Context, sender string, nonce int64, txHash string) (bool, error)
	Invoice(ctx context.Context, id string) (*ledger.Invoice, error)
}

var _ Ledger = (*ledger.Ledger)(nil)

// maxClaims bounds how many nonces one transfer tries to claim before it
// gives up (other settlers claiming the same ones all along).
const maxClaims = 32

// SenderName is the nonce journal's name of address on chain chainID:
// "evm:<chain id>:<address, lower case>".
func SenderName(chainID *big.Int, address common.Address) string {
	return "evm:" + chainID.String() + ":" + strings.ToLower(address.Hex())
}

// nextNonce is the nonce a new transfer tries first: the lowest nonce from
// the chain's pending nonce up that no claim of the journal holds. Claims of
// nonces the chain has confirmed are released on the way. A claim at the
// chain's next nonce is a gap: the chain cannot mine the nonces after it
// until it is filled, so nextNonce fills it (see gap). Call with r.mu held.
func (r *Rail) nextNonce(ctx context.Context) (uint64, error) {
	pending, err := r.cfg.Client.PendingNonceAt(ctx, r.from)
	if err != nil {
		return 0, fmt.Errorf("evm: nonce of %s: %w", r.from, err)
	}
	_, _, confirmed, err := r.confirmedNonce(ctx)
	if err != nil {
		return 0, err
	}
	claims, err := r.cfg.Ledger.NonceClaims(ctx, r.sender)
	if err != nil {
		return 0, fmt.Errorf("evm: nonce journal of %s: %w", r.from, err)
	}
	held := make(map[uint64]ledger.NonceClaim, len(claims))
	for _, c := range claims {
		if uint64(c.Nonce) < confirmed {
			r.release(ctx, claimed(c), "the chain confirmed its nonce")
			continue
		}
		held[uint64(c.Nonce)] = c
	}
	n := pending
	for {
		c, ok := held[n]
		if !ok {
			return n, nil
		}
		free, err := r.gap(ctx, c)
		if err != nil {
			return 0, err
		}
		if free {
			return n, nil
		}
		n++
	}
}

// gap deals with claim c of a nonce the chain has not seen, and reports
// whether the nonce is free again:
//
//   - the invoice records c as its attempt's write-ahead record: c is a
//     valid transfer of that invoice, sent again now (what the invoice's own
//     resume or Status would do);
//   - the invoice's attempt is still charging without a record: a crash (or
//     another settler in flight) between the claim and the record; the
//     attempt records and sends c when it resumes (adopt), so the nonce
//     stays c's;
//   - otherwise the attempt recorded another transaction or ended without
//     c (or the invoice is gone): c was never sent and never will be; it is
//     released and its nonce reused.
func (r *Rail) gap(ctx context.Context, c ledger.NonceClaim) (free bool, err error) {
	if IsPayoutClaim(c) {
		return r.payoutGap(ctx, c)
	}
	inv, err := r.cfg.Ledger.Invoice(ctx, c.Invoice)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		inv = nil
	case err != nil:
		return false, fmt.Errorf("evm: invoice %s of nonce %d: %w", c.Invoice, c.Nonce, err)
	}
	if seq := c.Refund(); seq > 0 {
		return r.refundGap(ctx, inv, c, seq)
	}
	switch {
	case inv != nil && inv.WriteAhead == c.Attempt && strings.EqualFold(inv.TxHash, c.TxHash):
		wa, err := r.decodeRecord(inv, "nonce claim", c.RawTx, c.TxHash, c.Nonce)
		if err != nil {
			return false, err
		}
		if err := r.send(ctx, wa.tx); err != nil {
			return false, fmt.Errorf("evm: sending %s of invoice %s again (nonce %d, a gap): %w", wa.hash, inv.ID, wa.nonce, err)
		}
		r.log.Info("evm: recorded transfer sent again to fill a nonce gap", "invoice", inv.ID, "tx", wa.hash, "nonce", wa.nonce)
		return false, nil
	case inv != nil && inv.Status == ledger.StatusCharging && attempts(inv) == c.Attempt && inv.WriteAhead != c.Attempt:
		r.log.Info("evm: nonce held by a transfer its invoice has yet to record", "invoice", inv.ID, "attempt", c.Attempt,
			"tx", c.TxHash, "nonce", c.Nonce)
		return false, nil
	}
	return r.release(ctx, claimed(c), "its attempt will never send it"), nil
}

// claim signs u with nonce and claims the nonce in the journal, moving to
// the next free nonce while other transfers hold them. If the attempt
// already holds a claim (a crash after it, or another settler on the same
// attempt), that claim's transaction is the attempt's and is returned
// instead. Call with r.mu held.
func (r *Rail) claim(ctx context.Context, req *settle.ChargeRequest, u *unsigned, nonce uint64) (*writeAhead, error) {
	return r.claimFor(ctx, req.Invoice.ID, req.Attempt, u, nonce, func(c ledger.NonceClaim) (*writeAhead, error) {
		return r.decodeRecord(req.Invoice, "nonce claim", c.RawTx, c.TxHash, c.Nonce)
	})
}

// claimFor is claim for the claim (invoice, attempt) of a charge or a
// refund; decode checks an earlier claim of it.
func (r *Rail) claimFor(ctx context.Context, invoice string, attempt int64, u *unsigned, nonce uint64,
	decode func(c ledger.NonceClaim) (*writeAhead, error)) (*writeAhead, error) {
	for i := 0; ; i++ {
		wa, err := r.sign(u, nonce)
		if err != nil {
			return nil, err
		}
		raw, err := wa.tx.MarshalBinary()
		if err != nil {
			return nil, err
		}
		c, err := r.cfg.Ledger.ClaimNonce(ctx, r.sender, ledger.NonceClaim{Nonce: int64(nonce), Invoice: invoice,
			Attempt: attempt, TxHash: wa.hash.Hex(), RawTx: hexutil.Encode(raw)})
		var taken *ledger.NonceTakenError
		switch {
		case errors.As(err, &taken) && i < maxClaims:
			nonce = uint64(taken.Next)
			continue
		case err != nil:
			return nil, fmt.Errorf("evm: claiming nonce %d of %s for invoice %s: %w", nonce, r.from, invoice, err)
		case strings.EqualFold(c.TxHash, wa.hash.Hex()):
			return wa, nil
		}
		r.log.Info("evm: the attempt already claimed a nonce; its transaction is used", "invoice", invoice,
			"attempt", attempt, "tx", c.TxHash, "nonce", c.Nonce)
		return decode(c)
	}
}

// adopt finds a claim of the journal that req's attempt holds but the
// invoice does not record (a crash came between the two), records it and
// sends it. It returns nil when the attempt holds no claim.
func (r *Rail) adopt(ctx context.Context, req *settle.ChargeRequest) (*writeAhead, error) {
	if _, err := r.chain(ctx); err != nil {
		return nil, err
	}
	claims, err := r.cfg.Ledger.NonceClaims(ctx, r.sender)
	if err != nil {
		return nil, fmt.Errorf("evm: nonce journal of %s: %w", r.from, err)
	}
	for _, c := range claims {
		if c.Invoice != req.Invoice.ID || c.Attempt != req.Attempt {
			continue
		}
		wa, err := r.decodeRecord(req.Invoice, "nonce claim", c.RawTx, c.TxHash, c.Nonce)
		if err != nil {
			return nil, err
		}
		r.log.Info("evm: recording the attempt's claimed transfer", "invoice", req.Invoice.ID, "attempt", req.Attempt,
			"tx", wa.hash, "nonce", wa.nonce)
		if err := r.recordAndSend(ctx, req, wa); err != nil {
			return nil, err
		}
		return wa, nil
	}
	return nil, nil
}

// release deletes wa's nonce claim, and reports whether it did. A failure
// is logged, not returned: the claim stays, which only keeps its nonce out
// of use until the next release.
func (r *Rail) release(ctx context.Context, wa *writeAhead, why string) bool {
	ok, err := r.cfg.Ledger.ReleaseNonce(ctx, r.sender, int64(wa.nonce), wa.hash.Hex())
	if err != nil {
		r.log.Warn("evm: nonce claim not released", "tx", wa.hash, "nonce", wa.nonce, "why", why, "err", err)
		return false
	}
	if ok {
		r.log.Debug("evm: nonce claim released", "tx", wa.hash, "nonce", wa.nonce, "why", why)
	}
	return ok
}

// claimed is the part of c that release needs.
func claimed(c ledger.NonceClaim) *writeAhead {
	return &writeAhead{hash: common.HexToHash(c.TxHash), nonce: uint64(c.Nonce)}
}

// attempts is the number of moves of inv to charging: its current charge
// attempt's number.
func attempts(inv *ledger.Invoice) int64 {
	var n int64
	for _, e := range inv.History {
		if e.Kind == "transition" && e.To == ledger.StatusCharging {
			n++
		}
	}
	return n
}
