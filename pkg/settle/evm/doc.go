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
//
// Nonces: the chain's pending nonce alone does not know the transfers that
// are written ahead but not (yet, or no longer) in the node's pool — after
// a crash before the broadcast, a failed broadcast, or a node that lost
// them — and handing one of their nonces out again makes two transfers
// collide: one is dropped, and its invoice costs an attempt and the retry
// wait. So every signed transfer first claims its nonce in the ledger's
// nonce journal of the settler's address (ledger.ClaimNonce: atomic, one
// claim per nonce and per charge attempt, under one hash tag), then is
// recorded on its invoice, then sent. A new transfer takes the lowest nonce,
// from the chain's pending nonce up, that no claim holds; a nonce another
// settler claimed meanwhile sends it to the next free one. Claims below the
// settler's confirmed nonce are released.
//
// A claim at the chain's next nonce is a gap that stalls every later nonce,
// and the allocation fills it: a transfer its invoice records is sent again
// (it is that invoice's one valid transfer, exactly what the invoice's own
// resume or Status does; they then find it paid); a claim the invoice does
// not record yet, while the attempt is still charging, stays (a crash came
// between claim and record, and the resumed attempt records and sends that
// very transaction before anything else, whatever the wallet holds now); a
// claim whose attempt recorded another transaction or ended without it was
// never sent, and its nonce is released and reused. An invoice that holds a
// write-ahead record cannot be voided: it leaves charging or pending only
// through this rail, once the chain has used the recorded nonce.
package evm
