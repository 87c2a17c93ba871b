// Package evm is the stablecoin rail of the settler: it collects an invoice
// by pulling an ERC-20 token (USDC, 6 decimals) from the crawler's wallet to
// the treasury with transferFrom, signed by the settler's key, on any
// JSON-RPC endpoint (or the embedded chain of evm/devchain).
//
// Amounts: the invoice total in micro-units is the token amount in base
// units (6 decimals: one micro-USD is one USDC base unit). A USD invoice is
// settled 1:1 in USDC; that is an assumption of this rail (USDC is redeemed
// 1:1 for USD by its issuer), stated here and in the invoice's history.
//
// Exactly once: before a transfer is built the rail checks the wallet's
// balance and its allowance to the settler, so that a wallet that cannot pay
// fails with a clear reason and nothing moves. The signed transaction is
// stored on the invoice as a write-ahead record (raw transaction, nonce,
// hash) before it is broadcast, and the ledger keeps one per charge attempt.
// A resumed attempt never signs again: it looks the recorded transaction up
// by hash — mined with enough confirmations: paid; reverted: failed; not
// found while the settler's confirmed nonce has passed the recorded one:
// dropped, failed; otherwise it broadcasts the very same raw transaction
// again and waits. A new transaction is only ever built by a new attempt,
// and a new attempt only follows a definitive failure.
package evm
