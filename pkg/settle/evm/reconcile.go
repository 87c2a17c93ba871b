package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// writeAhead is a recorded transfer.
type writeAhead struct {
	tx     *types.Transaction
	hash   common.Hash
	nonce  uint64
	wallet common.Address
	amount *big.Int
}

// decode reads the invoice's write-ahead record and checks it against the
// invoice: a record that does not decode, or that transfers another amount,
// needs a person.
func (r *Rail) decode(inv *ledger.Invoice) (*writeAhead, error) {
	return r.decodeRecord(inv, "write-ahead record", inv.RawTx, inv.TxHash, inv.Nonce)
}

// decodeRecord reads a recorded transaction of inv (what says the raw
// transaction, hash and nonce: the invoice's write-ahead record, a claim of
// the nonce journal) and checks it against the invoice, as decode does.
func (r *Rail) decodeRecord(inv *ledger.Invoice, what, rawTx, hash string, nonce int64) (*writeAhead, error) {
	tx, wallet, to, amount, err := r.recordedTransferFrom(rawTx, hash, nonce)
	if err == nil {
		if want := BaseUnits(inv.Total); amount.Cmp(want) != 0 || to != r.cfg.Treasury {
			err = fmt.Errorf("transaction %s moves %s to %s, the invoice is %s to %s", tx.Hash(), FormatUnits(amount), to, FormatUnits(want), r.cfg.Treasury)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: invoice %s %s: %v", settle.ErrStuck, inv.ID, what, err)
	}
	return &writeAhead{tx: tx, hash: tx.Hash(), nonce: tx.Nonce(), wallet: wallet, amount: amount}, nil
}

// recordedTransferFrom decodes a recorded raw transaction, checks it
// against its recorded hash and nonce and that it calls the token's
// transferFrom, and returns it with the transfer's from, to and amount. The
// callers check the parties and the amount and wrap the error in
// settle.ErrStuck.
func (r *Rail) recordedTransferFrom(rawTx, hash string, nonce int64) (tx *types.Transaction, from, to common.Address, amount *big.Int, err error) {
	raw, err := hexutil.Decode(rawTx)
	if err != nil {
		return nil, from, to, nil, fmt.Errorf("raw transaction: %v", err)
	}
	tx = new(types.Transaction)
	if err := tx.UnmarshalBinary(raw); err != nil {
		return nil, from, to, nil, fmt.Errorf("raw transaction: %v", err)
	}
	if !strings.EqualFold(tx.Hash().Hex(), hash) || int64(tx.Nonce()) != nonce {
		return nil, from, to, nil, fmt.Errorf("transaction %s nonce %d, recorded hash %s nonce %d", tx.Hash(), tx.Nonce(), hash, nonce)
	}
	if tx.To() == nil || *tx.To() != r.cfg.Token {
		return nil, from, to, nil, fmt.Errorf("transaction %s is not a call of token %s", tx.Hash(), r.cfg.Token)
	}
	from, to, amount, err = decodeTransferFrom(tx.Data())
	if err != nil {
		return nil, from, to, nil, fmt.Errorf("transaction %s: %v", tx.Hash(), err)
	}
	return tx, from, to, amount, nil
}

// state is what one look at the chain found about a transfer.
type state int

const (
	unseen  state = iota // no receipt, nonce not used: in a pool or lost
	mined                // in a block, not confirmed enough
	final                // paid or failed
	unknown              // the node cannot tell yet (still indexing)
)

// await looks at wa until it is final or timeout passes (0: one look),
// broadcasting it again when the chain does not know it. sent is when this
// call last broadcast it (zero: not yet).
func (r *Rail) await(ctx context.Context, inv *ledger.Invoice, wa *writeAhead, timeout time.Duration, sent time.Time) (settle.Outcome, error) {
	deadline := time.Now().Add(timeout)
	for {
		if err := settle.Fault(r.cfg.Faults, settle.FaultConfirming); err != nil {
			return settle.Outcome{}, err
		}
		o, st, err := r.look(ctx, inv, wa)
		if err != nil {
			return settle.Outcome{}, err
		}
		if st == final {
			return o, nil
		}
		if st == unseen && (sent.IsZero() || time.Since(sent) >= rebroadcastEvery) {
			if err := r.send(ctx, wa.tx); err != nil {
				return settle.Outcome{}, fmt.Errorf("evm: broadcasting %s of invoice %s again: %w", wa.hash, inv.ID, err)
			}
			r.log.Info("evm: recorded transfer broadcast again", "invoice", inv.ID, "tx", wa.hash, "nonce", wa.nonce)
			sent = time.Now()
		}
		if !time.Now().Before(deadline) {
			return settle.Outcome{Status: ledger.StatusPending, Detail: "unconfirmed",
				Settlement: ledger.Settlement{TxHash: wa.hash.Hex()},
				Reason:     fmt.Sprintf("transfer %s awaits %d confirmations", wa.hash, r.cfg.Confirmations)}, nil
		}
		t := time.NewTimer(r.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return settle.Outcome{}, ctx.Err()
		case <-t.C:
		}
	}
}

// look finds wa on the chain. The settler's confirmed nonce is read before
// the receipt, so that a transfer mined between the two reads is never taken
// for a dropped one.
func (r *Rail) look(ctx context.Context, inv *ledger.Invoice, wa *writeAhead) (settle.Outcome, state, error) {
	head, confirmedAt, nonce, err := r.confirmedNonce(ctx)
	if err != nil {
		return settle.Outcome{}, 0, err
	}
	rcpt, err := r.cfg.Client.TransactionReceipt(ctx, wa.hash)
	switch {
	case err == nil, errors.Is(err, ethereum.NotFound):
	case Indexing(err):
		return settle.Outcome{}, unknown, nil // a missing receipt proves nothing yet
	default:
		return settle.Outcome{}, 0, fmt.Errorf("evm: receipt of %s: %w", wa.hash, err)
	}
	if rcpt != nil && rcpt.BlockNumber != nil {
		block := rcpt.BlockNumber.Uint64()
		if block > confirmedAt {
			return settle.Outcome{}, mined, nil
		}
		set := ledger.Settlement{TxHash: wa.hash.Hex(), Block: int64(block)}
		if rcpt.Status != types.ReceiptStatusSuccessful {
			msg := fmt.Sprintf("transfer %s reverted in block %d (balance or allowance changed since the check?); nothing was moved", wa.hash, block)
			set.Error = msg
			return settle.Outcome{Status: ledger.StatusFailed, Detail: "reverted", Reason: msg, Settlement: set}, final, nil
		}
		set.Charged = inv.Total
		reason := fmt.Sprintf("paid %s %s from %s by transfer %s in block %d (%d confirmations)",
			FormatUnits(wa.amount), Symbol, wa.wallet, wa.hash, block, head-block+1)
		if inv.Currency != Symbol {
			reason += fmt.Sprintf("; %s settled 1:1 in %s", inv.Currency, Symbol)
		}
		return settle.Outcome{Status: ledger.StatusPaid, Detail: "confirmed", Reason: reason, Settlement: set}, final, nil
	}
	if nonce > wa.nonce {
		msg := fmt.Sprintf("transfer %s was dropped: nonce %d of %s was used by another transaction; nothing was moved", wa.hash, wa.nonce, r.from)
		return settle.Outcome{Status: ledger.StatusFailed, Detail: "dropped", Reason: msg,
			Settlement: ledger.Settlement{TxHash: wa.hash.Hex(), Error: msg}}, final, nil
	}
	return settle.Outcome{}, unseen, nil
}

// confirmedNonce returns the chain's head, the newest block with
// Config.Confirmations (the head counts), and the settler's nonce at that
// block: every nonce below it is used for good.
func (r *Rail) confirmedNonce(ctx context.Context) (head, confirmedAt, nonce uint64, err error) {
	head, err = r.cfg.Client.BlockNumber(ctx)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("evm: block number: %w", err)
	}
	if n := r.cfg.Confirmations; head+1 > n {
		confirmedAt = head + 1 - n
	}
	nonce, err = r.cfg.Client.NonceAt(ctx, r.from, new(big.Int).SetUint64(confirmedAt))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("evm: nonce of %s: %w", r.from, err)
	}
	return head, confirmedAt, nonce, nil
}

// Indexing reports the node's answer that it is still indexing
// transactions: a receipt it does not return may exist.
func Indexing(err error) bool {
	return err != nil && containsFold(err.Error(), "indexing is in progress")
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
