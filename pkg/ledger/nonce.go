package ledger

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrNonceTaken: another transaction already claims the nonce in the
// sender's nonce journal. The error is a *NonceTakenError naming the lowest
// free nonce above it.
var ErrNonceTaken = errors.New("ledger: nonce already claimed")

// NonceTakenError reports a nonce claimed by another transaction. It matches
// ErrNonceTaken with errors.Is.
type NonceTakenError struct {
	Sender string
	Nonce  int64
	// Next is the lowest nonce above Nonce that nobody claims.
	Next int64
}

func (e *NonceTakenError) Error() string {
	return fmt.Sprintf("ledger: nonce %d of %s is claimed by another transaction; %d is free", e.Nonce, e.Sender, e.Next)
}

// Is makes errors.Is(err, ErrNonceTaken) true.
func (e *NonceTakenError) Is(target error) bool { return target == ErrNonceTaken }

// PayoutClaimPrefix starts the owner of a nonce claim held by a publisher's
// payout (a payout id, "po_…") rather than an invoice.
const PayoutClaimPrefix = "po_"

// NonceClaim is an entry of a sender's nonce journal: the signed transaction
// of one charge attempt (or refund, or payout attempt) and the nonce it
// holds.
type NonceClaim struct {
	Nonce int64
	// Invoice is the invoice the transaction belongs to, or a payout id
	// (PayoutClaimPrefix) with Attempt its attempt.
	Invoice string
	// Attempt is the charge attempt (1, 2, …), or for a refund minus its
	// sequence (RefundClaim): one claim per attempt and per refund.
	Attempt int64
	TxHash  string
	RawTx   string
}

// ClaimNonce stores c in sender's nonce journal unless the nonce or the
// charge attempt already has a claim, atomically, so that two settlers (or a
// settler and its own restart) never hand out one nonce twice: a rail claims
// the nonce of a signed transaction before it records it on the invoice
// (Record) and broadcasts it.
//
// It returns the claim that holds the attempt: c itself, or, when the
// attempt (c.Invoice, c.Attempt) already claimed a nonce, that earlier claim
// (an attempt signs one transaction; the caller uses the returned one, and a
// resent call finds its own). A nonce claimed by another attempt gives a
// *NonceTakenError. sender names a chain account, such as
// "evm:<chain id>:<address>"; it is the journal's hash tag.
func (l *Ledger) ClaimNonce(ctx context.Context, sender string, c NonceClaim) (NonceClaim, error) {
	if err := validName(sender); err != nil {
		return NonceClaim{}, fmt.Errorf("%w: sender %w", ErrInvalid, err)
	}
	if err := c.validate(); err != nil {
		return NonceClaim{}, err
	}
	n := strconv.FormatInt(c.Nonce, 10)
	r, err := reply(l.runDurable(ctx, nonceClaimScript, []string{l.nonceKey(sender)}, n, c.owner(), c.encode()))
	if err != nil {
		return NonceClaim{}, fmt.Errorf("ledger: claim nonce %d of %s: %w", c.Nonce, sender, err)
	}
	switch {
	case r[0] == "ok":
		return c, nil
	case r[0] == "owned" && len(r) == 3:
		got, err := parseNonceClaim(r[1], r[2])
		if err != nil {
			return NonceClaim{}, fmt.Errorf("ledger: nonce journal of %s: %w", sender, err)
		}
		return got, nil
	case r[0] == "taken" && len(r) == 2:
		next, err := strconv.ParseInt(r[1], 10, 64)
		if err != nil {
			return NonceClaim{}, fmt.Errorf("ledger: claim nonce: next nonce %q: %w", r[1], err)
		}
		return NonceClaim{}, &NonceTakenError{Sender: sender, Nonce: c.Nonce, Next: next}
	}
	return NonceClaim{}, fmt.Errorf("ledger: claim nonce: unexpected script reply %q", r)
}

// NonceClaims returns sender's nonce journal, by nonce.
func (l *Ledger) NonceClaims(ctx context.Context, sender string) ([]NonceClaim, error) {
	if err := validName(sender); err != nil {
		return nil, fmt.Errorf("%w: sender %w", ErrInvalid, err)
	}
	h, err := l.rdb.HGetAll(ctx, l.nonceKey(sender)).Result()
	if err != nil {
		return nil, wrapf("ledger: nonce journal of "+sender, err)
	}
	out := make([]NonceClaim, 0, len(h)/2)
	for f, v := range h {
		n, ok := strings.CutPrefix(f, "n:")
		if !ok {
			continue
		}
		c, err := parseNonceClaim(n, v)
		if err != nil {
			return nil, fmt.Errorf("ledger: nonce journal of %s: %w", sender, err)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Nonce < out[j].Nonce })
	return out, nil
}

// ReleaseNonce deletes the claim of nonce in sender's journal if txHash
// still holds it, and reports whether it did. A rail releases a claim once
// the chain has used the nonce (confirmed), or when its transaction will
// never be broadcast (its attempt recorded another one or ended without it):
// a released nonce the chain has not used may be claimed again.
func (l *Ledger) ReleaseNonce(ctx context.Context, sender string, nonce int64, txHash string) (bool, error) {
	if err := validName(sender); err != nil {
		return false, fmt.Errorf("%w: sender %w", ErrInvalid, err)
	}
	if nonce < 0 || nonce > int64(MaxAmount) || !validToken(txHash) {
		return false, fmt.Errorf("%w: nonce %d, tx hash %q", ErrInvalid, nonce, clip(txHash))
	}
	n, err := l.runDurable(ctx, nonceReleaseScript, []string{l.nonceKey(sender)}, strconv.FormatInt(nonce, 10), txHash).Int()
	if err != nil {
		return false, wrapf(fmt.Sprintf("ledger: release nonce %d of %s", nonce, sender), err)
	}
	return n == 1, nil
}

func (c *NonceClaim) validate() error {
	switch {
	case c.Nonce < 0 || c.Nonce > int64(MaxAmount):
		return fmt.Errorf("%w: nonce %d", ErrInvalid, c.Nonce)
	case c.Attempt == 0:
		return fmt.Errorf("%w: a nonce claim needs its attempt number (or refund)", ErrInvalid)
	case !validToken(c.TxHash) || !validToken(c.RawTx) || len(c.RawTx) > maxRawTx:
		return fmt.Errorf("%w: a nonce claim needs its tx hash and raw tx (at most %d characters, no spaces)", ErrInvalid, maxRawTx)
	}
	if strings.HasPrefix(c.Invoice, PayoutClaimPrefix) {
		if err := validName(c.Invoice); err != nil || c.Attempt < 1 {
			return fmt.Errorf("%w: payout claim %q (attempt %d): want a payout id and an attempt >= 1", ErrInvalid, clip(c.Invoice), c.Attempt)
		}
		return nil
	}
	if _, _, _, err := ParseInvoiceID(c.Invoice); err != nil {
		return err
	}
	return nil
}

// RefundClaim is the Attempt of the nonce claim of refund seq.
func RefundClaim(seq int64) int64 { return -seq }

// Refund is the sequence of the refund c belongs to, 0 for a charge.
func (c NonceClaim) Refund() int64 {
	if c.Attempt < 0 {
		return -c.Attempt
	}
	return 0
}

func (c *NonceClaim) owner() string { return c.Invoice + "#" + strconv.FormatInt(c.Attempt, 10) }

func (c *NonceClaim) encode() string {
	return c.Invoice + " " + strconv.FormatInt(c.Attempt, 10) + " " + c.TxHash + " " + c.RawTx
}

func parseNonceClaim(nonce, v string) (NonceClaim, error) {
	n, err := strconv.ParseInt(nonce, 10, 64)
	parts := strings.Split(v, " ")
	if err != nil || len(parts) != 4 {
		return NonceClaim{}, fmt.Errorf("malformed claim of nonce %q", nonce)
	}
	a, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return NonceClaim{}, fmt.Errorf("malformed claim of nonce %q: attempt %q", nonce, parts[1])
	}
	return NonceClaim{Nonce: n, Invoice: parts[0], Attempt: a, TxHash: parts[2], RawTx: parts[3]}, nil
}

// validToken reports a non-empty string without spaces.
func validToken(s string) bool { return s != "" && !strings.ContainsAny(s, " \t\r\n") }
